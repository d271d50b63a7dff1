"""Webhooks: when a job finishes, POST its JSON to the job's callback URL (or the user's default),
signed with the user's secret, by a Celery task with bounded retries and back-off.

Signature (as Stripe's): header ``Serweb-Signature: t=<unix seconds>,v1=<hex>`` where ``hex`` is
HMAC-SHA256 with the user's signing secret over ``f"{t}.".encode() + body``.

Server-side request forgery: a callback URL is resolved and refused when any address is loopback,
private, link-local (cloud metadata), or otherwise not global, or an IPv6 address embedding such an
IPv4 address (IPv4-mapped, -compatible or -translated, NAT64, 6to4, Teredo), both when it is given and
at each delivery; the connection then goes to the address that was checked (no second lookup to rebind).
``WEBHOOK_ALLOW_PRIVATE`` lifts the address rule (tests, trusted private networks).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import random
import socket
import time
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings
from django.db import transaction
from rest_framework.utils.encoders import JSONEncoder

from predictions.models import Job
from predictions.models.api import JobCallback, WebhookAttempt, WebhookSettings
from predictions.pipeline import dispatch, monitoring
from predictions.reading import readmodel
from predictions.reading.serializers import JobWithFilesSerializer

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Serweb-Signature"
DELIVER_TASK = "predictions.deliver_webhook"
DELIVERED, RETRY, FAILED, SKIPPED = "delivered", "retry", "failed", "skipped"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class CallbackRefused(ValueError):
    """A callback URL serweb will not call; the message says why."""


# IPv6 forms that carry an IPv4 address a host may route to (RFC 4291, 6052, 8215, 3056, 4380, 6145).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address embeds, each with its form's name and article ([] for none)."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped:
        return [("an IPv4-mapped", ip.ipv4_mapped)]
    if ip in _IPV4_TRANSLATED:
        return [("an IPv4-translated", low32)]
    if ip in _IPV4_COMPATIBLE:
        return [("an IPv4-compatible", low32)]
    if ip in _NAT64:
        return [("a NAT64", low32)]
    if ip.sixtofour:
        return [("a 6to4", ip.sixtofour)]
    if ip.teredo:
        server, client = ip.teredo
        return [("a Teredo", client), ("a Teredo server", server)]
    return []


def _refusal(ip: IPAddress) -> str:
    if isinstance(ip, ipaddress.IPv6Address) and ip not in (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1")):
        if ip in _NAT64_LOCAL:  # where a local-use NAT64 prefix puts the IPv4 address is the network's choice
            return "a local-use NAT64 address (it can lead to any IPv4 address, private ones included)"
        for form, v4 in embedded_ipv4(ip):
            reason = _refusal(v4)
            if reason:
                return f"{form} address embedding {v4}, {reason}"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if ip.is_private:
        return "a private address"
    if not ip.is_global or ip.is_multicast:
        return "a reserved address"
    return ""


def check_callback_url(url: str) -> IPAddress:
    """The address to connect to for ``url``; raises ``CallbackRefused`` with the reason."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as e:
        raise CallbackRefused(f"The callback URL is malformed: {e}.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackRefused("The callback URL must be an http:// or https:// URL with a host name.")
    if parts.username or parts.password:
        raise CallbackRefused("The callback URL must not carry a user name or password; verify the signature instead.")
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise CallbackRefused(f"The callback host {parts.hostname} could not be resolved ({e}).") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        for ip in addresses:
            reason = _refusal(ip)
            if reason:
                raise CallbackRefused(
                    f"The callback host {parts.hostname} resolves to {ip}, {reason}; serweb only calls public addresses."
                )
    return addresses[0]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Serweb-Signature`` header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def notify_job_finished(job_id: int, **signal_kwargs: object) -> None:
    """Receives ``signals.job_finished``: queue the delivery of the job's result, if it has somewhere to go."""
    job = Job.objects.select_related("user").filter(pk=job_id).first()
    if job is None:
        return
    callback = JobCallback.objects.filter(job=job).first()
    if callback is None:
        default = WebhookSettings.objects.filter(user=job.user).values_list("default_url", flat=True).first()
        if not default:
            return
        callback, _ = JobCallback.objects.get_or_create(job=job, defaults={"url": default})
    if callback.state != JobCallback.State.PENDING:
        return
    # Published by name: this module imports no task code, so no circle with tasks.
    dispatch.publish_by_name(DELIVER_TASK, job_id, what=f"the webhook for job {job_id}")


def backoff_s(retries: int) -> float:
    """Seconds before the next attempt: base, 2×base, 4×base … plus up to 10% jitter."""
    delay = settings.WEBHOOK_RETRY_BASE_S * 2**retries
    return delay * (1 + random.random() / 10)


def payload(job: Job) -> bytes:
    """The job's read model as GET /api/v1/jobs/<id> gives it, without the webhook's own attempts."""
    data = JobWithFilesSerializer(readmodel.job_result(job, with_files=True)).data
    return json.dumps(data, cls=JSONEncoder, separators=(",", ":")).encode()


def deliver(job_id: int) -> str:
    """One delivery attempt, recorded.  Returns DELIVERED, RETRY (the task schedules another),
    FAILED (attempts used up, or the URL refused) or SKIPPED (gone or already settled)."""
    callback = JobCallback.objects.select_related("job", "job__user").filter(job_id=job_id).first()
    if callback is None or callback.state != JobCallback.State.PENDING:
        return SKIPPED
    job = callback.job
    secret = WebhookSettings.for_user(job.user).signing_secret
    body = payload(job)
    n = callback.attempts.count() + 1
    status_code, error, give_up = None, "", False
    try:
        status_code = _post(callback.url, body, secret, delivery=f"{job_id}-{n}")
        if not 200 <= status_code < 300:
            error = f"The receiver answered HTTP {status_code}."
    except CallbackRefused as e:
        error, give_up = str(e), True  # no point in retrying a refused address
    except (urllib3.exceptions.HTTPError, OSError) as e:
        error = f"{type(e).__name__}: {e}"[:300]
    with transaction.atomic():
        WebhookAttempt.objects.create(callback=callback, status_code=status_code, error=error[:300])
        if not error:
            state = JobCallback.State.DELIVERED
        elif give_up or n >= settings.WEBHOOK_MAX_ATTEMPTS:
            state = JobCallback.State.FAILED
        else:
            state = JobCallback.State.PENDING
        JobCallback.objects.filter(pk=callback.pk).update(state=state)
    logger.info("webhook: job %s attempt %d: %s", job_id, n, "delivered" if not error else error)
    if error:
        monitoring.WEBHOOK_FAILURES.labels(next="retry" if state == JobCallback.State.PENDING else "gave_up").inc()
    if state == JobCallback.State.PENDING:
        return RETRY
    return DELIVERED if state == JobCallback.State.DELIVERED else FAILED


def _post(url: str, body: bytes, secret: str, *, delivery: str) -> int:
    """POST to the checked address (Host header and TLS name from the URL); returns the status code."""
    ip = check_callback_url(url)
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    timeout = urllib3.Timeout(connect=min(5, settings.WEBHOOK_TIMEOUT_S), read=settings.WEBHOOK_TIMEOUT_S)
    if https:
        pool = urllib3.HTTPSConnectionPool(
            str(ip), port, timeout=timeout, retries=False, server_hostname=parts.hostname,
            assert_hostname=parts.hostname, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
        )  # fmt: skip
    else:
        pool = urllib3.HTTPConnectionPool(str(ip), port, timeout=timeout, retries=False)
    headers = {
        "Host": parts.netloc,
        "Content-Type": "application/json",
        "User-Agent": "serweb-webhooks/1",
        "Serweb-Event": "job.finished",
        "Serweb-Delivery": delivery,
        SIGNATURE_HEADER: sign(secret, int(time.time()), body),
    }
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    with pool:
        response = pool.urlopen("POST", target, body=body, headers=headers, redirect=False, preload_content=False)
        try:
            response.read(64 * 1024)  # the answer is not used; bound what is read of it
        finally:
            response.release_conn()
    return response.status

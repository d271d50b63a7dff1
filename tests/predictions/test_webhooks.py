"""Webhooks: a finished job's JSON POSTed to a receiver on 127.0.0.1, signed (verified here as a user
would), retried after a 500, bounded, and refused for private addresses unless the setting allows them."""

from __future__ import annotations

import ipaddress
import json

import pytest
from conftest import upload_file, wav_bytes
from django.test import Client
from prometheus_client import REGISTRY
from webhook_receiver import Receiver, verify

from predictions.lifecycle import webhooks
from predictions.models import Job
from predictions.models.api import ApiToken, JobCallback, WebhookSettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def token(alice) -> str:
    return ApiToken.issue(alice, "hooks")[1]


@pytest.fixture
def upload(django_capture_on_commit_callbacks, model_version, rng, token):
    def post(**data):
        files = [upload_file("clip.wav", wav_bytes(rng, seconds=2))]
        with django_capture_on_commit_callbacks(execute=True):
            return Client().post("/api/v1/jobs", {"files": files, **data}, HTTP_AUTHORIZATION=f"Bearer {token}")

    return post


def test_finished_job_is_posted_signed_and_retried_after_a_500(alice, receiver, settings, token, upload):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    receiver.codes = [500, 200]
    response = upload(callback_url=receiver.url)
    assert response.status_code == 202
    job_id = response.json()["id"]
    assert len(receiver.received) == 2
    secret = WebhookSettings.for_user(alice).signing_secret
    for hit in receiver.received:
        assert hit.path == "/hooks/serweb" and hit.headers["Serweb-Event"] == "job.finished"
        assert verify(secret, hit.headers["Serweb-Signature"], hit.body)
        assert not verify(secret, hit.headers["Serweb-Signature"], hit.body.replace(b"clip", b"clop"))
        assert not verify("whsec_wrong", hit.headers["Serweb-Signature"], hit.body)
    sent = json.loads(receiver.received[-1].body)
    assert sent["id"] == job_id and sent["status"] == "finished" and sent["files"][0]["name"] == "clip.wav"
    # The worker knows no host name: the job's URL in the body is absolute on SITE_URL.
    assert sent["url"] == f"{settings.SITE_URL.rstrip('/')}/api/v1/jobs/{job_id}"
    detail = Client().get(f"/api/v1/jobs/{job_id}", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert detail["webhook"]["state"] == "delivered"
    assert [a["status_code"] for a in detail["webhook"]["attempts"]] == [500, 200]
    assert "HTTP 500" in detail["webhook"]["attempts"][0]["error"]
    web = Client()
    web.force_login(alice)
    page = web.get(f"/jobs/{job_id}/").content.decode()
    assert receiver.url in page and "HTTP 500" in page and "delivered" in page


def test_retries_are_bounded(receiver, settings, upload):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.codes = [503]
    failures = {
        n: REGISTRY.get_sample_value("serweb_webhook_failures_total", {"next": n}) or 0 for n in ("retry", "gave_up")
    }
    upload(callback_url=receiver.url)
    callback = JobCallback.objects.get()
    assert len(receiver.received) == 3 and callback.attempts.count() == 3 and callback.state == "failed"
    # The operator's counter (/metrics): two failures retried, then one given up.
    assert REGISTRY.get_sample_value("serweb_webhook_failures_total", {"next": "retry"}) == failures["retry"] + 2
    assert REGISTRY.get_sample_value("serweb_webhook_failures_total", {"next": "gave_up"}) == failures["gave_up"] + 1
    assert webhooks.deliver(callback.job_id) == webhooks.SKIPPED  # a redelivered task does nothing


def test_the_users_default_webhook_is_used_without_a_callback_url(alice, receiver, settings, upload):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    WebhookSettings.objects.create(user=alice, default_url=receiver.url)
    upload()
    assert len(receiver.received) == 1 and JobCallback.objects.get().state == "delivered"


def test_a_private_callback_is_refused_by_default(receiver, settings, upload):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = upload(callback_url=receiver.url)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert "127.0.0.1, a loopback address" in response.json()["errors"]["callback_url"][0]
    assert not Job.objects.exists() and receiver.received == []


@pytest.mark.parametrize("url", ["not a url", "http://127.0.0.1/" + "a" * 600])
def test_a_malformed_or_overlong_callback_is_a_400(upload, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # so the address is no reason to refuse: the length must be
    response = upload(callback_url=url)
    assert response.status_code == 400 and "callback_url" in response.json()["errors"]
    assert not Job.objects.exists()


def test_the_address_is_checked_again_at_delivery(alice, receiver, settings, django_capture_on_commit_callbacks):
    job = Job.objects.create(user=alice, status=Job.Status.FINISHED)
    JobCallback.objects.create(job=job, url=receiver.url)
    settings.WEBHOOK_ALLOW_PRIVATE = False
    webhooks.notify_job_finished(job.pk)
    callback = JobCallback.objects.get()
    assert receiver.received == [] and callback.state == "failed"
    assert "loopback" in callback.attempts.get().error


@pytest.mark.parametrize(
    "url,reason",
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.5/hook", "private"),
        ("http://192.168.1.1/hook", "private"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://100.64.0.1/hook", "reserved"),
        ("http://localhost/hook", "loopback"),
        ("ftp://example.org/hook", "http:// or https://"),
    ],
)
def test_refused_callback_addresses(settings, url, reason):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(webhooks.CallbackRefused, match=reason):
        webhooks.check_callback_url(url)


# IPv6 addresses that carry an IPv4 address a NAT64, 6to4 or Teredo route (or the host itself) reaches.
EMBEDDED = [
    ("::127.0.0.1", "IPv4-compatible address embedding 127.0.0.1, a loopback"),
    ("::a9fe:a9fe", "IPv4-compatible address embedding 169.254.169.254, a link-local"),
    ("::ffff:127.0.0.1", "IPv4-mapped address embedding 127.0.0.1, a loopback"),
    ("::ffff:7f00:1", "IPv4-mapped address embedding 127.0.0.1, a loopback"),
    ("::ffff:a9fe:a9fe", "IPv4-mapped address embedding 169.254.169.254, a link-local"),
    ("::ffff:0:127.0.0.1", "IPv4-translated address embedding 127.0.0.1, a loopback"),
    ("::ffff:0:a00:1", "IPv4-translated address embedding 10.0.0.1, a private"),
    ("64:ff9b::127.0.0.1", "NAT64 address embedding 127.0.0.1, a loopback"),
    ("64:ff9b::169.254.169.254", "NAT64 address embedding 169.254.169.254, a link-local"),
    ("64:ff9b::10.0.0.1", "NAT64 address embedding 10.0.0.1, a private"),
    ("64:ff9b::a9fe:a9fe", "NAT64 address embedding 169.254.169.254, a link-local"),
    ("64:ff9b:1::a00:1", "local-use NAT64 address"),
    ("64:ff9b:1:ffff::808:808", "local-use NAT64 address"),
    ("2002:7f00:1::1", "6to4 address embedding 127.0.0.1, a loopback"),
    ("2002:a9fe:a9fe::1", "6to4 address embedding 169.254.169.254, a link-local"),
    ("2002:c0a8:101::1", "6to4 address embedding 192.168.1.1, a private"),
    # Teredo: the client's address is stored inverted (here 127.0.0.1, then 10.0.0.1).
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo address embedding 127.0.0.1, a loopback"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo address embedding 10.0.0.1, a private"),
]
PUBLIC_EMBEDDED = ["64:ff9b::8.8.8.8", "2002:808:808::1", "::ffff:0:808:808", "2606:4700:4700::1111"]


@pytest.mark.parametrize("address,reason", EMBEDDED)
def test_ipv6_addresses_embedding_a_non_public_ipv4_are_refused(settings, address, reason):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(webhooks.CallbackRefused, match=reason):
        webhooks.check_callback_url(f"http://[{address}]/hook")


@pytest.mark.parametrize("address", PUBLIC_EMBEDDED)
def test_ipv6_addresses_embedding_a_public_ipv4_are_allowed(settings, address):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    assert webhooks.check_callback_url(f"http://[{address}]:8443/hook") == ipaddress.ip_address(address)


@pytest.mark.parametrize("address,reason", EMBEDDED[::3])
def test_the_api_refuses_an_embedded_ipv4_callback_with_the_reason(upload, settings, address, reason):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = upload(callback_url=f"http://[{address}]/hook")
    assert response.status_code == 400 and reason in response.json()["errors"]["callback_url"][0]
    assert not Job.objects.exists()


@pytest.mark.parametrize("address,reason", EMBEDDED[1::3])
def test_the_account_page_refuses_an_embedded_ipv4_default_url(alice_client, settings, address, reason):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = alice_client.post("/account/webhook/", {"default_url": f"http://[{address}]/hook"})
    assert reason in response.content.decode()
    assert not WebhookSettings.objects.filter(default_url__contains=address).exists()


@pytest.mark.parametrize("address,reason", EMBEDDED[2::3])
def test_an_embedded_ipv4_callback_is_refused_again_at_delivery(alice, settings, address, reason):
    job = Job.objects.create(user=alice, status=Job.Status.FINISHED)
    JobCallback.objects.create(job=job, url=f"http://[{address}]/hook")  # stored before the rule existed
    settings.WEBHOOK_ALLOW_PRIVATE = False
    assert webhooks.deliver(job.pk) == webhooks.FAILED
    assert reason in JobCallback.objects.get().attempts.get().error

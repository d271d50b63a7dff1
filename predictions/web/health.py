"""Reachability of the services serweb depends on, for ``/healthz/``: each check answers "ok" or
"error: <type>" (never the exception's text, which may hold credentials).

``/healthz/?deep=1`` (for a load balancer or a monitor) also checks that the inference queue is being
consumed: a published file waiting longer than ``INFERENCE_STALL_S`` while no worker has taken a file
for as long means no worker listens on it, whatever the broker says; and that the recordings' bucket
answers, when there is one.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from predictions.pipeline import recordings

NO_BROKER = "not configured (tasks run in the web process)"


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as e:
        return f"error: {type(e).__name__}"


def check_broker(url: str | None = None) -> str:
    """Connect to the broker once, with short timeouts; ``NO_BROKER`` for the in-process default."""
    from kombu import Connection

    url = settings.CELERY_BROKER_URL if url is None else url
    if url.startswith("memory://"):
        return NO_BROKER
    try:
        with Connection(url, connect_timeout=2, transport_options={"socket_timeout": 2}) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=3)
        return "ok"
    except Exception as e:
        return f"error: {type(e).__name__}"


def check_inference() -> str:
    """ "ok", or how long files have waited with no worker taking any from the inference queue."""
    from predictions.models import AudioFile, FileChunk, QueueHeartbeat
    from predictions.pipeline.dispatch import INFERENCE_QUEUE

    try:
        now, stall = timezone.now(), timedelta(seconds=settings.INFERENCE_STALL_S)
        # Files and parts of long files wait in the same queue.
        waiting = [
            model.objects.filter(status=model.Status.QUEUED, published_at__isnull=False)
            .order_by("queued_at")
            .values_list("queued_at", flat=True)
            .first()
            for model in (AudioFile, FileChunk)
        ]
        oldest = min((t for t in waiting if t is not None), default=None)
        if oldest is None or oldest > now - stall:
            return "ok"
        seen = QueueHeartbeat.objects.filter(queue=INFERENCE_QUEUE).values_list("seen_at", flat=True).first()
        if seen is not None and seen > now - stall:
            return "ok"
    except Exception as e:
        return f"error: {type(e).__name__}"
    last = "never" if seen is None else f"{(now - seen).total_seconds():.0f} s ago"
    return (
        f"error: a file has waited {(now - oldest).total_seconds():.0f} s and no worker has taken one from "
        f"the {INFERENCE_QUEUE} queue since (last: {last})"
    )


def report(*, deep: bool = False) -> tuple[dict[str, str], bool]:
    """``({"database": ..., "broker": ...[, "inference": ...]}, healthy)``."""
    result = {"database": check_database(), "broker": check_broker()}
    if deep:
        result["storage"] = recordings.check()
    if deep and result["database"] == "ok":
        result["inference"] = check_inference()
    healthy = result["database"] == "ok" and not result["broker"].startswith("error")
    return result, healthy and not any(result.get(k, "").startswith("error") for k in ("storage", "inference"))

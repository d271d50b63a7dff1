"""Reachability of the services serweb depends on, for ``/healthz/``: each check answers "ok" or
"error: <type>" (never the exception's text, which may hold credentials)."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

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


def report() -> tuple[dict[str, str], bool]:
    """``({"database": ..., "broker": ...}, healthy)``."""
    result = {"database": check_database(), "broker": check_broker()}
    return result, result["database"] == "ok" and not result["broker"].startswith("error")

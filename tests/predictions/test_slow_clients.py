"""Slow uploads must not starve other requests: real gunicorn, the project's gunicorn.conf.py, the
test database, two clients dribbling an upload at ~100 B/s, and /healthz/ asked meanwhile."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
SLOW_CLIENTS = 2
WORKERS = 2  # as many workers as slow clients: sync workers would all be stuck
# Generous on a busy machine: threaded workers answer /healthz/ in milliseconds; stuck sync workers never.
ANSWER_WITHIN_S = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int, *extra: str) -> subprocess.Popen:
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(WORKERS),
    }
    env.pop("CELERY_BROKER_URL", None)  # healthz then checks the database only
    cmd = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", *extra, "serweb.wsgi"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if healthz_seconds(port, timeout=1.0) is not None:
            return proc
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("gunicorn did not answer /healthz/ within 30 s")


def healthz_seconds(port: int, *, timeout: float) -> float | None:
    """Seconds /healthz/ took to answer 200, or None when it did not within ``timeout``."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"GET /healthz/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = s.recv(64)
    except OSError:
        return None
    return time.monotonic() - started if head.startswith(b"HTTP/1.1 200") else None


def dribble(port: int, stop: threading.Event, sending: threading.Semaphore) -> None:
    """POST an upload whose body arrives at about 100 bytes a second (``sending`` released once it does)."""
    body_length = 1_000_000
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(
            b"POST /upload/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            # A well-formed CSRF cookie, so Django reads the body (to find the form's token) instead of
            # refusing the request before reading it.
            b"Cookie: csrftoken=" + b"a" * 32 + b"\r\n"
            b"Content-Type: multipart/form-data; boundary=slow\r\n"
            + f"Content-Length: {body_length}\r\n\r\n".encode()
            + b'--slow\r\nContent-Disposition: form-data; name="files"; filename="a.wav"\r\n\r\n'
        )
        sending.release()
        while not stop.wait(0.1):
            try:
                s.sendall(b"x" * 10)
            except OSError:
                return


def healthz_times_with_slow_clients(port: int, *, until_refused: bool = False) -> list[float | None]:
    """/healthz/ asked three times while every slow client is sending its body.  ``until_refused`` first
    waits (30 s at most) for /healthz/ to go unanswered: the server has taken the slow clients on."""
    stop, sending = threading.Event(), threading.Semaphore(0)
    clients = [threading.Thread(target=dribble, args=(port, stop, sending), daemon=True) for _ in range(SLOW_CLIENTS)]
    for c in clients:
        c.start()
    try:
        for _ in clients:
            assert sending.acquire(timeout=30), "a slow client could not connect"
        if until_refused:
            deadline = time.monotonic() + 30
            while healthz_seconds(port, timeout=1.0) is not None:
                assert time.monotonic() < deadline, "/healthz/ was still answered 30 s after the slow clients"
        return [healthz_seconds(port, timeout=ANSWER_WITHIN_S) for _ in range(3)]
    finally:
        stop.set()
        for c in clients:
            c.join(timeout=5)


@pytest.mark.django_db
def test_slow_uploads_do_not_block_healthz_with_the_projects_gunicorn_config():
    port = free_port()
    proc = start_gunicorn(port)
    try:
        times = healthz_times_with_slow_clients(port)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert None not in times, times


@pytest.mark.django_db
def test_the_same_slow_clients_do_block_sync_workers_so_the_test_above_can_fail():
    port = free_port()
    proc = start_gunicorn(port, "--worker-class", "sync", "--threads", "1")
    try:
        times = healthz_times_with_slow_clients(port, until_refused=True)
    finally:
        proc.kill()
        proc.wait(timeout=20)
    assert times == [None, None, None], times

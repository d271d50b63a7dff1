"""Webhook isolation: how long another user's 2 s clip takes while 12 webhooks wait on a receiver that
answers in 15 s, with deliveries in the analysis worker (-Q inference,maintenance,webhooks, as before
issue 16) and with a webhook worker of their own (as `make run` and compose run them).

    .venv/bin/python -m bench.bench_webhooks

Runs on the fault suite's throwaway stack (tests/faults/fault_stack.py: PostgreSQL, Redis, gunicorn,
a prefork worker with 2 processes).  Prints the clip's upload-to-result time in each mode.  Asserts nothing.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECEIVER_DELAY_S = 15
JOBS = 12


class _SlowReceiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.in_flight += 1
                time.sleep(RECEIVER_DELAY_S)
                server.in_flight -= 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def _clip_wait(mode: str, receiver: _SlowReceiver) -> float:
    import requests
    from fault_stack import PASSWORD, Stack, clip

    env = {"WEBHOOK_ALLOW_PRIVATE": "1", "WEBHOOK_TIMEOUT_S": "30"}
    stack = Stack(Path(tempfile.mkdtemp(prefix="serweb-bench-hooks-")), env_extra=env)
    try:
        stack.init_postgres()
        stack.start_redis()
        stack.manage("migrate", "--noinput")
        stack.manage("collectstatic", "--noinput")
        stack.start_web()
        celery = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "serweb",
            "worker",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ]
        if mode == "shared":
            stack._spawn("worker", [*celery, "--pool=prefork", "-c", "2", "-Q", "inference,maintenance,webhooks"])
        else:
            stack._spawn("worker", [*celery, "--pool=prefork", "-c", "2"])
            stack._spawn("hooks", [*celery, "-Q", "webhooks", "--pool=threads", "-c", "4", "-n", "hooks@%h"])
        stack.wait_for(lambda: "ready." in stack.log("worker"), 180, "the worker to be ready")
        stack.sign_up("sender")
        other = stack.sign_up("other")
        login = {"username": "sender", "password": PASSWORD, "name": "bench"}
        token = requests.post(f"{stack.url}/api/v1/tokens", json=login, timeout=30).json()["token"]
        hook = f"http://127.0.0.1:{receiver.server_port}/hook"
        for i in range(JOBS):
            requests.post(
                f"{stack.url}/api/v1/jobs",
                headers={"Authorization": f"Bearer {token}"},
                files=[("files", (f"a{i}.wav", clip(1, seed=i), "audio/wav"))],
                data={"callback_url": hook},
                timeout=60,
            ).raise_for_status()
        stack.wait_for(lambda: receiver.in_flight >= 2, 180, "deliveries waiting on the receiver")
        started = time.monotonic()
        stack.wait_finished(stack.upload(other, [clip(2, seed=99)]), within_s=300)
        return time.monotonic() - started
    finally:
        stack.stop_all()
        shutil.rmtree(stack.base, ignore_errors=True)


def main() -> int:
    sys.path.insert(0, str(ROOT / "tests" / "faults"))
    receiver = _SlowReceiver()
    try:
        for mode, label in (("own", "webhook worker of their own"), ("shared", "deliveries in the analysis worker")):
            print(f"another user's 2 s clip, {JOBS} webhooks waiting {RECEIVER_DELAY_S} s, {label}: "
                  f"{_clip_wait(mode, receiver):.1f} s", flush=True)  # fmt: skip
    finally:
        receiver.shutdown()
    return 0

"""A real ``celery worker`` process (prefork, one child) against the test database and Redis, for tests
that need what only a separate process shows (object storage with no shared disk, multiprocess metrics)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def worker_env(**env: str) -> dict[str, str]:
    """A worker's environment: the test database, broker and MODEL_ROOT, plus ``env``."""
    db = connection.settings_dict
    user = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return {
        **os.environ,
        "DATABASE_URL": f"postgresql://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MODEL_ROOT": str(settings.MODEL_ROOT),
        "DB_CONN_MAX_AGE": "0",
        **env,
    }


def start_worker(log_path: Path, *, name: str, **env: str) -> subprocess.Popen:
    """Started with ``worker_env(**env)``; ``log_text()`` reads its log."""
    full_env = worker_env(**env)
    log = open(log_path, "w")  # noqa: SIM115  (the process holds it; closed when the test's process ends)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "serweb", "worker", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--loglevel=INFO", "--pool=prefork", "-c", "1", "-n", f"{name}-{os.getpid()}@%h"],
        cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    worker.log_text = lambda: log_path.read_text(errors="replace")
    return worker


def stop_worker(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGTERM)  # warm shutdown: finish the current task, then exit
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()

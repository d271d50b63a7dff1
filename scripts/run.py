"""`make run`: serweb as a real instance on one machine, with no PostgreSQL or Redis to install.

Starts gunicorn (WhiteNoise serves the static files), a Celery worker (with the sweep's beat) and a
webhook worker side by side on Kombu's filesystem broker (var/broker), with DEBUG off and a secret key
generated once into var/secret_key.  Uploads are answered at once and files finish one by one, as in
production.  One Ctrl-C (or SIGTERM) stops them all; if one stops by itself, the others are stopped too.

Every default can be overridden from the environment (e.g. DATABASE_URL, CELERY_BROKER_URL, PORT,
RUN_WORKER_CONCURRENCY, SERWEB_VAR_DIR).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STOP_GRACE_S = 20
# Kombu's filesystem transport wants these folders under BROKER_DIR (the settings name them).
BROKER_FOLDERS = ("queue", "control", "processed")


def secret_key_file(var: Path) -> Path:
    """var/secret_key, created once (owner-only) and kept, so sessions survive restarts."""
    path = var / "secret_key"
    var.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(50) + "\n")
    return path


def environment(var: Path) -> dict[str, str]:
    env = dict(os.environ)
    defaults = {
        "DEBUG": "0",
        "SECRET_KEY_FILE": str(secret_key_file(var)),
        "ALLOWED_HOSTS": "127.0.0.1,localhost,[::1]",
        # Plain HTTP on this machine: no HTTPS redirect, HSTS or secure-only cookies.
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "CELERY_BROKER_URL": "filesystem://",
        "BROKER_DIR": str(var / "broker"),
        "STATIC_ROOT": str(var / "static"),
        "PYTHONUNBUFFERED": "1",
        # gunicorn is sized by gunicorn.conf.py alone (as in the image); a laptop's share of it:
        "WEB_CONCURRENCY": env.get("RUN_WEB_WORKERS", "2"),
        "GUNICORN_THREADS": "4",
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    return env


def make_broker_folders(env: dict[str, str]) -> None:
    """The filesystem broker's folders, made here rather than when the settings are imported."""
    if env["CELERY_BROKER_URL"].startswith("filesystem://"):
        for sub in BROKER_FOLDERS:
            (Path(env["BROKER_DIR"]) / sub).mkdir(parents=True, exist_ok=True)


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def process_commands(env: dict[str, str], var: Path, *, host: str, port: str) -> dict[str, list[str]]:
    """The processes of a running instance: web, the worker (with beat), and the webhook worker.

    The worker consumes the queues the app's configuration names (inference, maintenance); webhooks
    have their own process, so a receiver that answers slowly never holds an analysis slot.
    """
    bin_dir = Path(sys.executable).parent
    celery = [str(bin_dir / "celery"), "-A", "serweb", "worker", "--loglevel", "INFO"]
    return {
        # Workers, threads, timeouts and the access log come from gunicorn.conf.py (WEB_CONCURRENCY and
        # GUNICORN_THREADS in ``env``); only the address is this launcher's.
        "web": [
            str(bin_dir / "gunicorn"),
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            "--bind",
            f"{host}:{port}",
            "serweb.wsgi",
        ],
        "worker": [
            *celery,
            "--beat",
            "--schedule",
            str(var / "celerybeat-schedule"),
            "--concurrency",
            env.get("RUN_WORKER_CONCURRENCY", "1"),
        ],
        "webhooks": [
            *celery,
            "-Q",
            "webhooks",
            "-n",
            "webhooks@%h",
            "--pool",
            "threads",
            "--concurrency",
            env.get("WEBHOOK_CONCURRENCY", "4"),
        ],
    }


def main() -> int:
    var = Path(os.environ.get("SERWEB_VAR_DIR", ROOT / "var"))
    env = environment(var)
    make_broker_folders(env)
    host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8000")
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    manage(env, "register_model", "--default")
    commands = process_commands(env, var, host=host, port=port)
    stop = {"signal": None}

    def on_signal(signum, frame) -> None:
        stop["signal"] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # Own sessions: the terminal's Ctrl-C reaches only this launcher, which stops them in order.
    procs = {name: subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True) for name, cmd in commands.items()}
    pids = ", ".join(f"{name} pid {p.pid}" for name, p in procs.items())
    print(f"serweb: http://{host}:{port}/  ({pids}; Ctrl-C stops them all)")
    status = 0
    while stop["signal"] is None:
        ended = [name for name, p in procs.items() if p.poll() is not None]
        if ended:
            print(f"serweb: {ended[0]} stopped (exit {procs[ended[0]].returncode}); stopping the rest", file=sys.stderr)
            status = 1
            break
        time.sleep(0.3)
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for p in procs.values():
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    print("serweb: stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())

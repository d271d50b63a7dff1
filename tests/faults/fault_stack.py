"""A throwaway serweb deployment for fault injection: its own PostgreSQL and Redis (Debian's binaries, on
ports of their own), gunicorn, a prefork Celery worker and Celery beat, each a real process that a test
can stop, kill and start again.  State is read straight from the database with psycopg.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
import requests

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "fault-injection-pw-7"
FINAL = ("done", "failed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


def clip(seconds: float, *, seed: int) -> bytes:
    """Synthetic speech (``audio_factory.spoken``, a pitch of its own per seed) as 16-bit WAV bytes at 22.05 kHz."""
    from audio_factory import spoken

    rng = np.random.default_rng(seed)
    y = spoken(rng, seconds=seconds, sr=22050, f0=float(rng.uniform(110, 220)))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes((np.clip(y, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


@dataclass
class Stack:
    base: Path
    pg_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    env_extra: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    # With a MotoServer, recordings live in a bucket of it (object storage on), not under base/uploads.
    s3: object | None = None
    bucket: str = ""

    def use_object_storage(self, server) -> None:
        from s3_server import storage_env

        self.s3, self.bucket = server, server.new_bucket()
        self.env_extra.update(storage_env(server.url, self.bucket))

    def is_stored(self, name: str) -> bool:
        """Whether a recording is in storage: the bucket when object storage is on, else the disk."""
        if self.s3 is not None:
            return name in self.s3.keys(self.bucket)
        return (self.base / "uploads" / name).is_file()

    # --- services ---------------------------------------------------------------------------------
    @property
    def pgdata(self) -> Path:
        return self.base / "pgdata"

    @staticmethod
    def _run(args: list[str]) -> None:
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")

    def _as_postgres(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args

    def init_postgres(self) -> None:
        pg = postgres_bin()
        self.pgdata.mkdir(parents=True)
        (self.base / "pgsock").mkdir()
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: its folders belong to postgres
            self.base.chmod(0o755)
            shutil.chown(self.pgdata, "postgres")
            shutil.chown(self.base / "pgsock", "postgres")
        self._run(self._as_postgres([str(pg / "initdb"), "-D", str(self.pgdata), "-A", "trust", "-U", "postgres"]))
        self.start_postgres()
        self._run([str(pg / "createdb"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres", "serweb"])

    def start_postgres(self) -> None:
        pg = postgres_bin()
        opts = f"-h 127.0.0.1 -p {self.pg_port} -k {self.base / 'pgsock'} -c fsync=off"
        self._run(
            self._as_postgres(
                [
                    str(pg / "pg_ctl"),
                    "-D",
                    str(self.pgdata),
                    "-o",
                    opts,
                    "-l",
                    str(self.base / "pgsock" / "pg.log"),
                    "-w",
                    "start",
                ]
            )
        )

    def stop_postgres(self) -> None:
        pg = postgres_bin()
        self._run(self._as_postgres([str(pg / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"]))

    def start_redis(self) -> None:
        self.procs["redis"] = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_for(lambda: self._redis_answers(), 20, "redis to start")

    def kill_redis(self) -> None:
        """SIGKILL: everything Redis held (queued and unacknowledged messages) is lost."""
        self.kill("redis")

    def _redis_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    # --- the platform ---------------------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{self.pg_port}/serweb",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            # As .env.example and compose suggest: the API's rate limits in the same Redis.
            "CACHE_URL": f"redis://127.0.0.1:{self.redis_port}/1",
            "UPLOAD_ROOT": str(self.base / "uploads"),
            "MODEL_ROOT": str(self.base / "models"),
            "STATIC_ROOT": str(self.base / "static"),
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "SECURE_HSTS_SECONDS": "0",
            "DB_CONN_MAX_AGE": "0",
            "LOG_LEVEL": "INFO",
            **self.env_extra,
        }

    def manage(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed: {done.stdout[-1000:]}{done.stderr[-3000:]}")

    def _spawn(self, name: str, args: list[str], *, env: dict[str, str] | None = None) -> None:
        log = open(self.base / f"{name}.log", "a")  # noqa: SIM115  (kept open by the child)
        self.procs[name] = subprocess.Popen(
            args, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start_web(self) -> None:
        self._spawn(
            "web",
            [sys.executable, "-m", "gunicorn", "serweb.wsgi", "-b", f"127.0.0.1:{self.web_port}", "-w", "2",
             "--threads", "4", "--timeout", "120"],
        )  # fmt: skip
        self.wait_for(lambda: self._web_answers(), 60, "gunicorn to start")

    def _web_answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/accounts/login/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start_worker(self, *, concurrency: int = 2) -> None:
        offset = len(self.log("worker"))
        self._spawn(
            "worker",
            [sys.executable, "-m", "celery", "-A", "serweb", "worker",  # no -Q: the app names its queues
             "--pool=prefork", "-c", str(concurrency), "-n", "faults@%h", "--without-gossip", "--without-mingle",
             "--loglevel=INFO"],
        )  # fmt: skip
        self.wait_for(lambda: "ready." in self.log("worker")[offset:], 120, "the worker to be ready")

    def start_node(self, name: str, *, concurrency: int = 1) -> Path:
        """A worker "node" on a machine of its own: its own folders for uploads, bundles and temporary
        copies (nothing shared with the web or the other nodes but PostgreSQL, Redis and the S3 server).
        Returns the node's folder."""
        home = self.base / name
        for sub in ("uploads", "models", "tmp"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        env = {**self.env, "UPLOAD_ROOT": str(home / "uploads"), "MODEL_ROOT": str(home / "models"),
               "TMPDIR": str(home / "tmp")}  # fmt: skip
        self._spawn(
            name,
            [sys.executable, "-m", "celery", "-A", "serweb", "worker", "--pool=prefork", "-c", str(concurrency),
             "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--loglevel=INFO"],
            env=env,
        )  # fmt: skip
        self.wait_for(lambda: "ready." in self.log(name), 120, f"node {name} to be ready")
        return home

    def start_beat(self) -> None:
        schedule = self.base / "beat-schedule"
        self._spawn("beat", [sys.executable, "-m", "celery", "-A", "serweb", "beat", "-s", str(schedule)])

    def kill(self, name: str) -> None:
        """SIGKILL the process and everything it started (a worker's pool children too)."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL) if name != "redis" else proc.kill()
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name)
        if (self.pgdata / "postmaster.pid").exists():
            self.stop_postgres()

    def log(self, name: str) -> str:
        path = self.base / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def worker_children(self) -> list[int]:
        parent = self.procs["worker"].pid
        out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    # --- a user's view --------------------------------------------------------------------------------
    def sign_up(self, username: str) -> requests.Session:
        s = requests.Session()
        s.get(f"{self.url}/accounts/signup/", timeout=30)
        r = s.post(
            f"{self.url}/accounts/signup/",
            data={"username": username, "password1": PASSWORD, "password2": PASSWORD,
                  "csrfmiddlewaretoken": s.cookies["csrftoken"]},
            timeout=30, allow_redirects=False,
        )  # fmt: skip
        assert r.status_code == 302, r.text[:2000]
        return s

    def upload(self, session: requests.Session, clips: list[bytes], *, timeout: float = 120) -> int:
        """POST the clips as one upload; returns the job id (the response must redirect to the job page)."""
        session.get(f"{self.url}/upload/", timeout=30)
        files = [("files", (f"take-{i}.wav", data, "audio/wav")) for i, data in enumerate(clips)]
        r = session.post(
            f"{self.url}/upload/",
            data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
            files=files,
            timeout=timeout,
            allow_redirects=False,
        )
        assert r.status_code == 302, (r.status_code, r.text[:2000])
        match = re.search(r"/jobs/(\d+)/", r.headers["Location"])
        assert match, r.headers["Location"]
        return int(match.group(1))

    # --- the database's view --------------------------------------------------------------------------
    def query(self, sql: str, *params: object) -> list[tuple]:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.pg_port}/serweb", connect_timeout=3) as conn:
            return conn.execute(sql, params).fetchall()

    def files(self, job_id: int) -> list[dict]:
        rows = self.query(
            "SELECT f.id, f.status, f.error, f.stored_name, f.attempts, f.published_at, f.claimed_by, "
            "(SELECT count(*) FROM predictions_prediction p WHERE p.file_id = f.id) "
            "FROM predictions_audiofile f WHERE f.job_id = %s ORDER BY f.id",
            job_id,
        )
        keys = ("id", "status", "error", "stored_name", "attempts", "published_at", "claimed_by", "predictions")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def statuses(self, job_id: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        for f in self.files(job_id):
            counts[f["status"]] = counts.get(f["status"], 0) + 1
        return counts

    def wait_finished(self, job_id: int, *, within_s: float) -> float:
        """Seconds until every file of the job is done or failed; fails the test past ``within_s``."""
        t0 = time.monotonic()

        def finished() -> bool:
            try:
                return all(f["status"] in FINAL for f in self.files(job_id))
            except psycopg.OperationalError:
                return False

        self.wait_for(finished, within_s, lambda: f"job {job_id} to finish; files: {self._summary(job_id)}")
        return time.monotonic() - t0

    def _summary(self, job_id: int) -> object:
        try:
            return self.statuses(job_id)
        except psycopg.OperationalError as e:
            return f"database unreachable: {e}"

    def assert_exactly_once(self, job_id: int, *, expect_done: int) -> list[dict]:
        """Every file final, one prediction per done file and none for failed ones, no stored file missing."""
        files = self.files(job_id)
        for f in files:
            assert f["status"] in FINAL, f
            assert f["predictions"] == (1 if f["status"] == "done" else 0), f
            if f["stored_name"]:
                assert self.is_stored(f["stored_name"]), f"stored file missing for {f}"
        done = [f for f in files if f["status"] == "done"]
        assert len(done) == expect_done, [(f["id"], f["status"], f["error"]) for f in files]
        job = self.query("SELECT status FROM predictions_job WHERE id = %s", job_id)
        assert job == [("finished",)]
        return files

    @staticmethod
    def report(line: str) -> None:
        """Append a measured figure to test-artifacts/faults.txt (the README quotes it)."""
        out = ROOT / "test-artifacts" / "faults.txt"
        out.parent.mkdir(exist_ok=True)
        with out.open("a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {line}\n")

    @staticmethod
    def wait_for(condition, timeout: float, what: str | Callable[[], str], *, every: float = 0.5) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what() if callable(what) else what}")

"""API benchmarks: request latency of the main endpoints (in-process, Bearer token), the CSV endpoint's
rows per second, and the time from a job finishing to its webhook arriving.  Prints figures; asserts nothing.

    .venv/bin/python -m bench.bench_api [--requests 200] [--rows 20000]

Needs PostgreSQL (BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/serweb_bench_api,
dropped and re-created).  Tasks run in-process (no broker), so the webhook figure is serweb's own work:
building and signing the payload and one POST to a receiver on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/serweb_bench_api")


def _setup(tmp: Path) -> None:
    import psycopg

    parts = urlsplit(DB_URL)
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{parts.path.lstrip("/")}"')
    os.environ.pop("CELERY_BROKER_URL", None)  # tasks in-process
    os.environ.update(
        DATABASE_URL=DB_URL,
        UPLOAD_ROOT=str(tmp / "uploads"),
        MODEL_ROOT=str(tmp / "models"),
        DJANGO_SETTINGS_MODULE="serweb.settings",
        ALLOWED_HOSTS="testserver,localhost",
        REGISTER_DEFAULT_MODEL="0",
        API_RATE_LIMIT="1000000/minute",
        WEBHOOK_ALLOW_PRIVATE="1",
        LOG_LEVEL="WARNING",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _median_ms(client, url: str, n: int, **headers) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.get(url, **headers)
        if response.streaming:
            b"".join(response.streaming_content)
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rows", type=int, default=20000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        _setup(Path(tmp))
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.utils import timezone

        from mlcore.labels import EMOTIONS
        from predictions.models import AudioFile, Job, ModelVersion, Prediction
        from predictions.models.api import ApiToken, JobCallback, WebhookSettings

        user = get_user_model().objects.create_user("bench", password="bench-password-123")
        version = ModelVersion.objects.create(name="bench", architecture="x", bundle_path="-", fingerprint="0" * 64)
        raw = ApiToken.issue(user, "bench")[1]
        auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
        probs = {f"p_{e}": 1 / 8 for e in EMOTIONS}
        from datetime import timedelta

        now = timezone.now()
        jobs = [Job.objects.create(user=user, status=Job.Status.FINISHED) for _ in range(args.rows // 20)]
        files = AudioFile.objects.bulk_create(
            AudioFile(job=j, user=user, original_name=f"clip-{k}.wav", status=AudioFile.Status.DONE)
            for j in jobs
            for k in range(20)
        )
        Prediction.objects.bulk_create(
            Prediction(file=f, user=user, model_version=version, uploaded_at=now - timedelta(seconds=k),
                       top_emotion=EMOTIONS[k % 8], confidence=0.125, duration_s=4.0, **probs)
            for k, f in enumerate(files)
        )  # fmt: skip
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would have by now on a live database
        client = Client()
        job = jobs[-1]
        pred = Prediction.objects.filter(file__job=job).first()
        print(f"{len(files)} predictions in {len(jobs)} jobs of one user; medians of {args.requests} requests:")
        for label, url in [
            ("GET /api/v1/jobs (page of 50)", "/api/v1/jobs"),
            ("GET /api/v1/jobs/<id> (20 files)", f"/api/v1/jobs/{job.pk}"),
            ("GET /api/v1/predictions (page of 50)", "/api/v1/predictions"),
            ("GET /api/v1/predictions/<id>", f"/api/v1/predictions/{pred.pk}"),
        ]:
            print(f"  {label:40s} {_median_ms(client, url, args.requests, **auth):7.1f} ms")
        web = Client()
        web.force_login(user)
        print(
            f"  {'(page) GET /jobs/<id>/status.json':40s} {_median_ms(web, f'/jobs/{job.pk}/status.json', args.requests):7.1f} ms"
        )

        t0 = time.perf_counter()
        response = client.get("/api/v1/predictions.csv", **auth)
        body = b"".join(response.streaming_content)
        elapsed = time.perf_counter() - t0
        rows = body.count(b"\n") - 1
        print(f"  GET /api/v1/predictions.csv: {rows} rows in {elapsed:.2f} s = {rows / elapsed:,.0f} rows/s")

        sys.path.insert(0, str(ROOT / "tests" / "predictions"))
        from webhook_receiver import Receiver

        from predictions.lifecycle import webhooks

        receiver = Receiver()
        WebhookSettings.for_user(user)
        latencies = []
        for j in jobs[:50]:
            JobCallback.objects.create(job=j, url=receiver.url)
            t0 = time.perf_counter()
            webhooks.notify_job_finished(j.pk)  # eager: builds, signs and POSTs before returning
            latencies.append((time.perf_counter() - t0) * 1000)
        receiver.close()
        assert len(receiver.received) == 50
        print(
            f"  webhook, job finished -> received (20-file job, 127.0.0.1): median {statistics.median(latencies):.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

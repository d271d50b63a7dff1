"""Numbers an operator can watch: the web's /metrics (requests, database) answers only the scraper's
token, and a real prefork worker serves its children's counts (files done and failed, analysis time per
second of audio, queue wait) from prometheus_client's multiprocess folder."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import numpy as np
import pytest
import requests
import soundfile as sf
from conftest import upload_file, wav_bytes
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from s3_server import free_port, wait_for_port
from worker_process import start_worker, stop_worker

from predictions.models import AudioFile, FileChunk, Job

TOKEN = "scrape-token-for-tests-0123456789"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.django_db
def test_metrics_answer_only_the_scrapers_token(client, alice_client, settings):
    assert client.get("/metrics").status_code == 404  # no token configured: not there at all
    settings.METRICS_TOKEN = TOKEN
    alice_client.get("/history/")
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token").status_code == 404
    assert alice_client.get("/metrics").status_code == 404  # a signed-in user is no scraper
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    seen = samples(response.content.decode())
    by_view = {
        labels: v
        for (name, labels), v in seen.items()
        if name == "django_http_responses_total_by_status_view_method_total"
    }
    assert any(dict(labels)["view"] == "predictions:history" and dict(labels)["status"] == "200" for labels in by_view)
    assert any(name == "django_db_execute_total" and v > 0 for (name, _), v in seen.items())


@pytest.fixture
def celery_worker(model_version, private_storage, tmp_path, settings):
    if settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("no CELERY_BROKER_URL: a real worker needs Redis")
    folder, port = tmp_path / "prometheus", free_port()
    folder.mkdir()
    worker = start_worker(
        tmp_path / "worker.log",
        name="metrics",
        UPLOAD_ROOT=str(settings.UPLOAD_ROOT),
        PROMETHEUS_MULTIPROC_DIR=str(folder),
        WORKER_METRICS_PORT=str(port),
    )
    worker.metrics_url = f"http://127.0.0.1:{port}/metrics"
    wait_for_port(port, timeout_s=120)
    yield worker
    stop_worker(worker)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_serves_files_failures_analysis_time_and_queue_wait(alice_client, celery_worker, rng):
    buf = io.BytesIO()
    sf.write(buf, np.zeros(3 * 16000, dtype=np.float32), 16000, format="WAV")
    files = [upload_file("talk.wav", wav_bytes(rng, seconds=3)), upload_file("silence.wav", buf.getvalue())]
    assert alice_client.post("/upload/", {"files": files}).status_code in (200, 302)
    finished = AudioFile.objects.filter(status__in=["done", "failed"])
    deadline = time.monotonic() + 180
    while finished.count() < 2:
        assert time.monotonic() < deadline, celery_worker.log_text()[-4000:]
        time.sleep(0.25)
    seen = samples(requests.get(celery_worker.metrics_url, timeout=30).text)
    assert seen[("serweb_files_processed_total", (("outcome", "done"),))] == 1
    assert seen[("serweb_files_processed_total", (("outcome", "failed"),))] == 1
    assert seen[("serweb_queue_wait_seconds_count", ())] == 2
    assert seen[("serweb_analysis_seconds_per_audio_second_count", ())] >= 1
    assert 0 < seen[("serweb_analysis_seconds_per_audio_second_sum", ())] < 50


@pytest.mark.django_db
def test_the_outbox_is_counted_from_the_database_at_each_scrape(client, alice, settings):
    settings.METRICS_TOKEN = TOKEN
    job = Job.objects.create(user=alice)
    now = timezone.now()
    for status, published in (("queued", None), ("queued", None), ("queued", now), ("processing", now), ("done", now)):
        AudioFile.objects.create(job=job, user=alice, original_name="a.wav", status=status, published_at=published)
    oldest = AudioFile.objects.filter(status="queued").order_by("id").first()
    AudioFile.objects.filter(pk=oldest.pk).update(created_at=now - timedelta(minutes=5))

    seen = samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode())
    waiting = {dict(labels)["state"]: v for (name, labels), v in seen.items() if name == "serweb_files_waiting"}
    assert waiting == {"unpublished": 2, "published": 1, "processing": 1}
    assert 290 < seen[("serweb_oldest_queued_seconds", ())] < 600
    parts = {dict(labels)["state"]: v for (name, labels), v in seen.items() if name == "serweb_parts_waiting"}
    assert parts == {"unpublished": 0, "published": 0, "processing": 0}

    # A long file's parts are counted apart: one done, one processing, two in the broker, one held back.
    long = AudioFile.objects.filter(status="processing").get()
    for i, (status, published) in enumerate(
        (("done", now), ("processing", now), ("queued", now), ("queued", now), ("queued", None))
    ):
        FileChunk.objects.create(
            file=long, user=alice, index=i, first_window=5 * i, stop_window=5 * i + 5, status=status,
            published_at=published,
        )  # fmt: skip
    seen = samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode())
    parts = {dict(labels)["state"]: v for (name, labels), v in seen.items() if name == "serweb_parts_waiting"}
    assert parts == {"unpublished": 1, "published": 2, "processing": 1}

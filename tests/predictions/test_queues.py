"""Queues: a worker started without -Q consumes what analysis needs, webhooks have a queue and a process
of their own (make run and compose), and /healthz/?deep=1 tells when the inference queue is not consumed."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from predictions.models import AudioFile, FileChunk, Job, QueueHeartbeat
from serweb.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]


def route(task: str) -> str:
    """The queue a task is published to, checked to reach it (exchange and routing key of its name)."""
    queue = celery_app.amqp.router.route({}, task)["queue"]
    assert queue.exchange.name == queue.routing_key == queue.name, queue
    return queue.name


def configured() -> set[str]:
    """What `celery -A serweb worker` (no -Q) consumes: every queue of the app's configuration."""
    return {q.name for q in celery_app.conf.task_queues}


def test_a_worker_started_without_queue_flags_consumes_inference_and_maintenance():
    assert configured() == {"inference", "maintenance"}
    assert route("predictions.process_file") == route("predictions.process_files") == "inference"
    assert route("predictions.sweep_stuck") == "maintenance"


def test_webhooks_go_to_a_queue_the_analysis_worker_does_not_consume():
    assert route("predictions.deliver_webhook") == "webhooks"
    assert "webhooks" not in configured()


def test_make_run_starts_a_webhook_worker_beside_the_analysis_worker(tmp_path):
    spec = importlib.util.spec_from_file_location("run", ROOT / "scripts" / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    commands = run.process_commands({}, tmp_path, host="127.0.0.1", port="8000")
    assert set(commands) == {"web", "worker", "webhooks"}
    assert "-Q" not in commands["worker"] and "--beat" in commands["worker"]
    hooks = commands["webhooks"]
    assert hooks[hooks.index("-Q") + 1] == "webhooks" and hooks[hooks.index("-n") + 1].startswith("webhooks@")


@pytest.fixture
def waiting_file(alice):
    """A file published 10 minutes ago and still queued."""
    job = Job.objects.create(user=alice)
    long_ago = timezone.now() - timedelta(minutes=10)
    return AudioFile.objects.create(
        job=job, user=alice, original_name="a.wav", stored_name="x.wav", queued_at=long_ago, published_at=long_ago
    )


@pytest.mark.django_db
def test_deep_healthz_is_503_when_files_wait_and_no_worker_takes_from_the_inference_queue(settings, waiting_file):
    settings.CELERY_BROKER_URL, settings.INFERENCE_STALL_S = "memory://", 300
    response = Client().get("/healthz/?deep=1")
    assert response.status_code == 503
    assert response.json()["inference"].startswith("error: a file has waited 600 s and no worker has taken one")
    # The plain check (the container's liveness) is unchanged.
    assert Client().get("/healthz/").status_code == 200


@pytest.mark.django_db
def test_deep_healthz_counts_a_waiting_part_of_a_long_file_as_waiting_work(settings, alice):
    settings.CELERY_BROKER_URL, settings.INFERENCE_STALL_S = "memory://", 300
    long_ago = timezone.now() - timedelta(minutes=10)
    f = AudioFile.objects.create(
        job=Job.objects.create(user=alice), user=alice, original_name="long.wav", status="processing", parts=2
    )
    FileChunk.objects.create(file=f, user=alice, index=0, first_window=0, stop_window=5, status="done")
    FileChunk.objects.create(
        file=f, user=alice, index=1, first_window=5, stop_window=9, queued_at=long_ago, published_at=long_ago
    )
    response = Client().get("/healthz/?deep=1")
    assert response.status_code == 503 and "waited 600 s" in response.json()["inference"]
    QueueHeartbeat.beat("inference")
    assert Client().get("/healthz/?deep=1").status_code == 200


@pytest.mark.django_db
def test_deep_healthz_is_200_when_a_worker_took_a_file_recently(settings, waiting_file):
    settings.CELERY_BROKER_URL = "memory://"
    QueueHeartbeat.beat("inference")
    response = Client().get("/healthz/?deep=1")
    assert response.status_code == 200 and response.json()["inference"] == "ok"


@pytest.mark.django_db
def test_an_analysis_task_records_that_the_inference_queue_was_consumed(alice_client, post_upload, rng, model_version):
    from conftest import upload_file, wav_bytes

    before = timezone.now()
    post_upload(alice_client, [upload_file("a.wav", wav_bytes(rng))])
    assert AudioFile.objects.get().status == "done"
    assert QueueHeartbeat.objects.get(queue="inference").seen_at >= before

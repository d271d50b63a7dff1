"""A worker node that no longer answers gives its files back at the sweep (predictions/pipeline/nodes.py),
decided by a real ping over Redis to a real worker process; when nobody answers nothing is decided."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from worker_process import start_worker, stop_worker

from predictions.models import AudioFile, Job
from predictions.pipeline import nodes

pytestmark = pytest.mark.django_db


@pytest.fixture
def celery_worker(settings, tmp_path):
    """A real worker (named so, the autouse ``eager_tasks`` leaves the broker alone)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("no CELERY_BROKER_URL: a real worker needs Redis")
    worker = start_worker(tmp_path / "worker.log", name="nodes", UPLOAD_ROOT=str(tmp_path / "scratch"))
    deadline = time.monotonic() + 180
    while "ready." not in worker.log_text():
        assert worker.poll() is None, worker.log_text()[-3000:]
        assert time.monotonic() < deadline, worker.log_text()[-3000:]
        time.sleep(0.25)
    yield worker
    stop_worker(worker)


def _held(user, job, node: str, *, minutes_ago: float) -> AudioFile:
    return AudioFile.objects.create(
        job=job, user=user, original_name=f"{node}.wav", status=AudioFile.Status.PROCESSING,
        started_at=timezone.now() - timedelta(minutes=minutes_ago), claimed_by=node, attempts=1,
    )  # fmt: skip


def test_files_of_a_node_that_does_not_answer_go_back_and_a_live_nodes_stay(celery_worker):
    live = nodes.live_nodes()
    assert live and any(name.startswith("nodes-") for name in live), live
    (me,) = [name for name in live if name.startswith("nodes-")]
    user = get_user_model().objects.create_user("nodes-owner")
    job = Job.objects.create(user=user)
    gone = _held(user, job, "gone@lost-machine", minutes_ago=5)
    working = _held(user, job, me, minutes_ago=5)
    just_claimed = _held(user, job, "starting@new-machine", minutes_ago=0)  # within the grace period

    assert nodes.take_back_from_dead_nodes() == 1
    statuses = {f.pk: f.status for f in AudioFile.objects.filter(job=job)}
    assert statuses == {gone.pk: "queued", working.pk: "processing", just_claimed.pk: "processing"}


def test_when_no_node_answers_nothing_is_decided(settings):
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("no CELERY_BROKER_URL: the ping needs Redis")
    user = get_user_model().objects.create_user("nodes-alone")
    job = Job.objects.create(user=user)
    held = _held(user, job, "gone@lost-machine", minutes_ago=5)
    assert nodes.live_nodes() is None
    assert nodes.take_back_from_dead_nodes() == 0
    held.refresh_from_db()
    assert held.status == AudioFile.Status.PROCESSING  # left for the stale-processing timeout

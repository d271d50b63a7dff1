"""What a worker asks the database per file: a chunk of files costs what one file does, the heartbeat is
not a query per task, and a follow-up dispatch with nothing to publish only reads.  These are the
platform's share of a file's cost (``python -m bench platform`` measures the whole)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import wav_bytes
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from predictions.models import AudioFile, Job, Prediction, QueueHeartbeat
from predictions.pipeline import dispatch, processing

pytestmark = pytest.mark.django_db


def queued_files(user, rng, root, n: int) -> list[int]:
    """``n`` stored, queued files of one job whose messages are in the broker (published)."""
    root.mkdir(parents=True, exist_ok=True)
    job = Job.objects.create(user=user)
    rows = []
    for i in range(n):
        (root / f"w{job.pk}-{i}.wav").write_bytes(wav_bytes(rng, seconds=2))
        rows.append(
            AudioFile(
                job=job,
                user=user,
                original_name=f"{i}.wav",
                stored_name=f"w{job.pk}-{i}.wav",
                content_type="audio/wav",
                queued_at=timezone.now(),
                published_at=timezone.now(),
            )  # fmt: skip
        )
    return [f.pk for f in AudioFile.objects.bulk_create(rows)]


def statements(fn) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        fn()
    return [q["sql"] for q in captured.captured_queries]


def test_a_chunk_of_eight_files_costs_the_database_what_one_file_does(alice, rng, private_storage, model_version):
    one = queued_files(alice, rng, private_storage, 1)
    eight = queued_files(alice, rng, private_storage, 8)
    alone = statements(lambda: processing.process(one, processing.Delivery(task_id="one")))
    together = statements(lambda: processing.process(eight, processing.Delivery(task_id="eight")))
    assert Prediction.objects.count() == 9 and set(AudioFile.objects.values_list("status", flat=True)) == {"done"}
    assert set(Job.objects.values_list("status", flat=True)) == {"finished"}
    # Claim, model, predictions, files, job: the same statements for eight files as for one.
    assert len(together) == len(alone), "\n".join(together)
    assert sum(s.startswith("INSERT") for s in together) == 1


def test_a_chunk_stores_each_files_own_verdict_and_overwrites_an_earlier_one(
    alice, rng, private_storage, model_version
):
    ids = queued_files(alice, rng, private_storage, 3)
    processing.process(ids, processing.Delivery(task_id="first"))
    first = {p.file_id: (p.pk, p.created_at, p.probabilities) for p in Prediction.objects.all()}
    assert len({tuple(v[2].values()) for v in first.values()}) == 3  # three clips, three verdicts
    # The files' messages came back (as after a crash between storing and acknowledging): overwritten.
    AudioFile.objects.filter(pk__in=ids).update(status="queued")
    Prediction.objects.update(top_emotion="disgust", p_disgust=1.0)
    processing.process(ids, processing.Delivery(task_id="again"))
    again = {p.file_id: (p.pk, p.created_at, p.probabilities) for p in Prediction.objects.all()}
    assert again == first


def test_a_worker_process_writes_the_queue_heartbeat_once_in_five_seconds_not_per_task():
    QueueHeartbeat.beat("inference")
    seen = QueueHeartbeat.objects.get(queue="inference").seen_at
    assert statements(lambda: QueueHeartbeat.beat("inference")) == []
    QueueHeartbeat.recent_beats["inference"] -= QueueHeartbeat.BEAT_EVERY_S  # five seconds later
    QueueHeartbeat.objects.update(seen_at=seen - timedelta(seconds=6))
    assert len(statements(lambda: QueueHeartbeat.beat("inference"))) == 1
    assert QueueHeartbeat.objects.get(queue="inference").seen_at > seen


def test_with_a_broker_a_dispatch_with_nothing_to_publish_only_reads(
    alice, rng, private_storage, monkeypatch, settings
):
    from serweb.celery import app

    app.conf.task_always_eager = False  # as with a broker (``eager_tasks`` puts it back)
    sent: list[list[int]] = []
    monkeypatch.setattr(dispatch, "send", sent.append)
    settings.DISPATCH_WINDOW_PER_USER = 2
    ids = queued_files(alice, rng, private_storage, 2)
    AudioFile.objects.filter(pk__in=ids).update(published_at=None)
    dispatch.dispatch([alice.pk])
    assert sent == [[ids[0]], [ids[1]]]  # one round fills the window
    # A worker's follow-up call once everything is published: one read, no lock, no transaction.
    quiet = statements(lambda: dispatch.dispatch([alice.pk]))
    assert (
        sent == [[ids[0]], [ids[1]]] and len(quiet) == 1 and all(s.lstrip("(").startswith("SELECT") for s in quiet)
    ), quiet

"""The inference task: idempotent, retried only for transient errors, and rescued by the sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import upload_file, wav_bytes
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from mlcore.labels import EMOTIONS
from predictions import tasks
from predictions.models import AudioFile, Job, Prediction
from predictions.pipeline import processing

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_file(alice, rng, private_storage) -> AudioFile:
    """A stored, queued file whose task has not run (as if its message were still in the broker)."""
    path = private_storage / "q.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_bytes(rng, seconds=3))
    job = Job.objects.create(user=alice)
    return AudioFile.objects.create(
        job=job,
        user=alice,
        original_name="q.wav",
        stored_name="q.wav",
        content_type="audio/wav",
        queued_at=timezone.now(),
    )


def test_running_the_task_twice_gives_one_prediction_with_the_same_values(queued_file, model_version):
    assert tasks.process_file.apply(args=[queued_file.pk]).get() == "done"
    first = Prediction.objects.get()
    assert tasks.process_file.apply(args=[queued_file.pk]).get() == "skipped"
    assert Prediction.objects.count() == 1
    again = Prediction.objects.get()
    assert again.pk == first.pk and again.probabilities == first.probabilities
    queued_file.refresh_from_db()
    assert queued_file.status == "done" and queued_file.attempts == 1


def test_a_redelivery_after_a_crash_mid_processing_overwrites_nothing_twice(queued_file, model_version):
    # The worker died after claiming the file: status processing, no prediction.  Redelivery finishes it.
    AudioFile.objects.filter(pk=queued_file.pk).update(
        status="processing", attempts=1, started_at=timezone.now(), claim_task="msg-1"
    )
    assert tasks.process_file.apply(args=[queued_file.pk], task_id="msg-1").get() == "done"
    queued_file.refresh_from_db()
    assert queued_file.status == "done" and queued_file.attempts == 2
    assert Prediction.objects.filter(file=queued_file).count() == 1
    assert queued_file.job.files.get().prediction.model_version == model_version


def test_the_sweep_requeues_a_file_stranded_in_processing(
    queued_file, model_version, django_capture_on_commit_callbacks
):
    long_ago = timezone.now() - timedelta(hours=2)
    AudioFile.objects.filter(pk=queued_file.pk).update(status="processing", attempts=1, started_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sweep_stuck")
    queued_file.refresh_from_db()
    assert queued_file.status == "done"
    assert Prediction.objects.filter(file=queued_file).exists()
    assert Job.objects.get().status == "finished"


def test_the_sweep_requeues_a_file_whose_message_was_lost(
    queued_file, model_version, django_capture_on_commit_callbacks
):
    AudioFile.objects.filter(pk=queued_file.pk).update(published_at=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        result = processing.sweep_stuck()
    assert result == {"requeued": 1, "failed": 0, "published": 1}
    assert Prediction.objects.filter(file=queued_file).exists()


def test_the_sweep_leaves_recent_and_finished_files_alone(queued_file, model_version):
    AudioFile.objects.filter(pk=queued_file.pk).update(published_at=timezone.now())  # its message is on its way
    assert processing.sweep_stuck() == {"requeued": 0, "failed": 0, "published": 0}
    queued_file.refresh_from_db()
    assert queued_file.status == "queued"


def test_a_file_that_killed_the_worker_every_time_fails_for_good(queued_file, model_version, settings):
    AudioFile.objects.filter(pk=queued_file.pk).update(
        status="processing", attempts=settings.PROCESSING_MAX_ATTEMPTS, started_at=timezone.now() - timedelta(hours=2)
    )
    assert processing.sweep_stuck() == {"requeued": 0, "failed": 1, "published": 0}
    queued_file.refresh_from_db()
    assert queued_file.status == "failed" and "after 3 attempts" in queued_file.error


def test_transient_database_errors_are_retried_with_backoff(queued_file, model_version, monkeypatch):
    from django.db import OperationalError

    real = processing.process
    calls = []

    def flaky(file_ids, delivery):
        calls.append(delivery.retries)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(file_ids, delivery)

    monkeypatch.setattr(processing, "process", flaky)
    assert tasks.process_file.apply(args=[queued_file.pk]).get() == "done"
    assert calls == [0, 1]
    queued_file.refresh_from_db()
    assert queued_file.attempts == 1  # a retry after a transient error is not a crash


def test_bad_audio_is_a_final_failure_and_not_retried(
    queued_file, model_version, private_storage, django_capture_on_commit_callbacks
):
    (private_storage / "q.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.process_file.apply(args=[queued_file.pk]).get() == "failed"
    queued_file.refresh_from_db()
    assert queued_file.status == "failed" and "could not be decoded" in queued_file.error
    assert queued_file.attempts == 1
    # Nothing will read a failed recording again: it leaves storage.
    assert queued_file.stored_name == "" and not (private_storage / "q.wav").exists()


def test_the_task_message_holds_only_the_file_id(queued_file):
    message = tasks.process_file.s(queued_file.pk)
    assert message.args == (queued_file.pk,) and tasks.process_file.app.conf.task_serializer == "json"
    assert tasks.process_file.acks_late and tasks.process_file.reject_on_worker_lost
    assert tasks.process_file.app.conf.task_routes["predictions.process_file"] == {"queue": "inference"}


def test_an_upload_whose_broker_is_down_keeps_its_files_queued_for_the_sweep(
    alice_client, model_version, post_upload, monkeypatch, rng
):
    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.process_file, "apply_async", broker_down)
    response = post_upload(alice_client, [upload_file("a.wav", wav_bytes(rng))])
    assert response.status_code == 302
    f = AudioFile.objects.get()
    assert f.status == "queued" and f.published_at is None and f.path.is_file()
    monkeypatch.undo()
    assert processing.sweep_stuck()["published"] == 1  # the broker is back: the sweep publishes it
    assert AudioFile.objects.get().status == "done"


def test_a_stored_file_missing_on_disk_fails_with_a_reason(queued_file, model_version, private_storage):
    (private_storage / "q.wav").unlink()
    assert tasks.process_file.apply(args=[queued_file.pk]).get() == "failed"
    queued_file.refresh_from_db()
    assert "missing" in queued_file.error


def test_uploads_publish_one_task_per_accepted_file_up_to_the_users_window(
    alice_client, model_version, post_upload, rng, monkeypatch, settings
):
    settings.DISPATCH_WINDOW_PER_USER = 2
    sent = []
    monkeypatch.setattr(tasks.process_file, "apply_async", lambda args, **kw: sent.append(args[0]))
    post_upload(
        alice_client,
        [upload_file(f"{i}.wav", wav_bytes(rng)) for i in range(4)] + [upload_file("c.wav", b"")],
    )
    published = AudioFile.objects.filter(status="queued", published_at__isnull=False)
    assert sorted(sent) == sorted(published.values_list("pk", flat=True)) and len(sent) == 2
    assert AudioFile.objects.filter(status="queued", published_at__isnull=True).count() == 2
    # Another user's file is published at once, whatever alice has waiting.
    bob = get_user_model().objects.create_user("bob-window", password="pw-long-enough-1")
    bob_client = Client()
    bob_client.force_login(bob)
    post_upload(bob_client, [upload_file("bob.wav", wav_bytes(rng))])
    assert sent[-1] == AudioFile.objects.get(user=bob).pk


def test_batched_uploads_give_the_same_results_as_one_task_per_file(
    alice_client, model_version, post_upload, rng, settings
):
    settings.INFERENCE_BATCH_SIZE = 8
    files = [upload_file(f"{i}.wav", wav_bytes(rng)) for i in range(3)] + [
        upload_file("blip.wav", wav_bytes(rng, seconds=0.1))
    ]
    post_upload(alice_client, files)
    assert Prediction.objects.count() == 3
    blip = AudioFile.objects.get(original_name="blip.wav")
    assert blip.status == "failed" and "0.10 s long" in blip.error
    assert Job.objects.get().status == "finished"
    again = tasks.process_files.apply(args=[list(AudioFile.objects.values_list("pk", flat=True))]).get()
    assert again == {"done": 0, "failed": 0, "skipped": 4} and Prediction.objects.count() == 3


def analysis(*, top: str, p: float, uncertain_reason: str = "", speech_s: float | None = None, duration_s=3.0):
    """An mlcore Analysis made up for storing: ``top`` at ``p``, the rest shared evenly."""
    from analysis_factory import made_up_analysis

    probs = {e: (p if e == top else (1 - p) / 7) for e in EMOTIONS}
    return made_up_analysis(
        probs, duration_s=duration_s, uncertain_reason=uncertain_reason, speech_s=speech_s, envelope=((-0.5, 0.5),) * 4
    )


def test_a_verdict_the_model_does_not_doubt_is_stored_as_certain(queued_file, model_version):
    prediction = processing.save_prediction(queued_file, model_version, analysis(top="calm", p=0.31))
    prediction.refresh_from_db()
    assert (prediction.uncertain, prediction.uncertain_reason, prediction.speech_s) == (False, "", None)
    assert prediction.top_emotion == "calm" and AudioFile.objects.get().status == "done"
    assert prediction.envelope == [[-0.5, 0.5]] * 4 and prediction.timeline[0]["end_s"] == 3.0


def test_the_engines_doubt_and_speech_seconds_are_stored_as_given(queued_file, model_version):
    doubt = analysis(top="neutral", p=0.125, uncertain_reason="little speech (0.6 s)", speech_s=0.6)
    processing.save_prediction(queued_file, model_version, doubt)
    prediction = Prediction.objects.get()
    assert (prediction.uncertain, prediction.uncertain_reason, prediction.speech_s) == (
        True,
        "little speech (0.6 s)",
        pytest.approx(0.6),
    )


def test_a_result_that_is_not_finite_fails_the_file_with_a_reason_and_stores_nothing(
    queued_file, model_version, monkeypatch
):
    from predictions.pipeline import registry

    real = registry.get_predictor

    class NaNPredictor:
        def __init__(self, inner):
            self.inner = inner

        def analyse_many(self, sources, **kw):
            from dataclasses import replace

            return [replace(a, confidence=float("nan")) for a in self.inner.analyse_many(sources, **kw)]

    def nan_predictor():
        version, predictor = real()
        return version, NaNPredictor(predictor)

    monkeypatch.setattr(processing, "get_predictor", nan_predictor)
    assert tasks.process_file.apply(args=[queued_file.pk]).get() == "failed"
    queued_file.refresh_from_db()
    assert "not a finite number" in queued_file.error and not Prediction.objects.exists()

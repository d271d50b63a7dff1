"""Long recordings analysed in parts: each part claimed, published in the owner's window and swept like a
file, merged exactly once into the result the whole recording gets, and shown as "N of M parts done"."""

from __future__ import annotations

import io
import os
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_factory import voiced
from conftest import job_status, upload_file, wav_bytes
from django.core.management import call_command
from django.utils import timezone
from worker_process import start_worker, stop_worker

from mlcore.labels import EMOTIONS
from mlcore.serving.predictor import Predictor
from predictions import tasks
from predictions.models import AudioFile, FileChunk, Job, Prediction, SplitFile
from predictions.pipeline import chunking, dispatch, processing, recordings, registry

pytestmark = pytest.mark.django_db
SR = 22050
SECONDS = 40.0


@pytest.fixture
def small_parts(settings) -> None:
    """Parts of 10 s (5 windows), files over 15 s split: a 40 s recording is 4 parts."""
    settings.ANALYSIS_PART_S, settings.SPLIT_FILES_OVER_S, settings.DISPATCH_WINDOW_PER_USER = 10, 15, 2


@pytest.fixture
def tiny_model(db, tiny_bundle):
    version, _ = registry.register_bundle(tiny_bundle, activate=True)
    return version


def _recording(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Voices at three pitches, 4 s each, so windows differ."""
    pieces = [voiced(rng, seconds=4.0, sr=SR, f0=(120.0, 210.0, 280.0)[k % 3]) for k in range(int(seconds // 4))]
    return np.concatenate(pieces)[: int(seconds * SR)]


def _stored(alice, private_storage: Path, name: str, y: np.ndarray) -> AudioFile:
    private_storage.mkdir(parents=True, exist_ok=True)
    sf.write(private_storage / name, y, SR, subtype="PCM_16")
    return AudioFile.objects.create(
        job=Job.objects.create(user=alice), user=alice, original_name=name, stored_name=name,
        content_type="audio/wav", queued_at=timezone.now(), audio_s=y.size / SR,
    )  # fmt: skip


@pytest.fixture
def long_file(alice, rng, private_storage, small_parts) -> AudioFile:
    return _stored(alice, private_storage, "long.wav", _recording(rng, SECONDS))


@pytest.fixture
def unpublished_parts(monkeypatch) -> list[int]:
    """Parts are stored but their messages go nowhere (as if still in the broker): the ids sent."""
    sent: list[int] = []
    monkeypatch.setattr(dispatch, "send_chunk", sent.append)
    return sent


def test_a_long_file_is_analysed_in_parts_and_merged_once_into_its_whole_result(
    long_file, tiny_model, tiny_bundle, private_storage, django_capture_on_commit_callbacks, monkeypatch
):
    decodes: list[object] = []
    real_decode = Predictor.decode
    monkeypatch.setattr(Predictor, "decode", lambda self, *a, **k: decodes.append(k) or real_decode(self, *a, **k))
    copy = recordings.decoded_path(long_file.pk, long_file.stored_name, Predictor(tiny_bundle).sr)
    seen: list[bool] = []
    real_survey = Predictor.survey
    monkeypatch.setattr(
        Predictor, "survey", lambda self, *a, **k: seen.append(copy.is_file()) or real_survey(self, *a, **k)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.process_file.apply(args=[long_file.pk]).get() == "parted"
    # Decoded once, into this machine's copy, which the parts read by range and the merge removes.
    assert len(decodes) == 1 and decodes[0]["into"] == copy and seen == [True]
    assert not copy.exists()
    long_file.refresh_from_db()
    assert long_file.status == "done" and long_file.parts == 4
    parts = list(FileChunk.objects.filter(file=long_file))
    assert [(c.status, c.attempts) for c in parts] == [("done", 1)] * 4
    assert [(c.first_window, c.stop_window) for c in parts] == [(0, 5), (5, 10), (10, 15), (15, 19)]
    stored = Prediction.objects.get(file=long_file)
    whole = Predictor(tiny_bundle).analyse(private_storage / "long.wav").to_dict()
    assert [(w["start_s"], w["end_s"]) for w in stored.timeline] == [
        (w["start_s"], w["end_s"]) for w in whole["timeline"]
    ]
    for mine, theirs in zip(stored.timeline, whole["timeline"], strict=True):
        np.testing.assert_allclose(
            [mine["probabilities"][e] for e in EMOTIONS], [theirs["probabilities"][e] for e in EMOTIONS], atol=1e-5
        )
    assert stored.top_emotion == whole["emotion"] and stored.segments == whole["segments"]
    assert stored.confidence == pytest.approx(whole["confidence"], abs=1e-5)
    assert stored.envelope == whole["envelope"] and stored.speech_s == whole["speech_s"]
    assert Job.objects.get().status == "finished"
    # The parts' payload is in the prediction now; their rows stay to count them.
    assert not FileChunk.objects.filter(file=long_file, result__isnull=False).exists()
    assert SplitFile.objects.get(file=long_file).survey == {}


def test_parts_and_the_merge_delivered_again_write_nothing_twice(
    long_file, tiny_model, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        tasks.process_file.apply(args=[long_file.pk]).get()
    first = Prediction.objects.get()
    part = FileChunk.objects.filter(file=long_file).first()
    assert tasks.process_chunk.apply(args=[part.pk]).get() == "skipped"
    assert tasks.process_file.apply(args=[long_file.pk]).get() == "skipped"
    assert chunking.merge_if_complete(long_file.pk) is False
    assert Prediction.objects.get().pk == first.pk and first.file.chunks.count() == 4


def test_a_part_redelivered_after_its_worker_died_is_analysed_once_more(long_file, tiny_model, unpublished_parts):
    tasks.process_file.apply(args=[long_file.pk]).get()
    part = FileChunk.objects.filter(file=long_file).first()
    FileChunk.objects.filter(pk=part.pk).update(
        status="processing", attempts=1, started_at=timezone.now(), claim_task="m1"
    )
    assert tasks.process_chunk.apply(args=[part.pk], task_id="m1").get() == "done"
    part.refresh_from_db()
    assert part.status == "done" and part.attempts == 2


def test_a_part_whose_audio_cannot_be_read_fails_the_file_with_the_reason(
    long_file,
    tiny_model,
    tiny_bundle,
    unpublished_parts,
    private_storage,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    tasks.process_file.apply(args=[long_file.pk]).get()
    assert len(unpublished_parts) == 2  # the owner's window
    recordings.forget_decoded(long_file.pk)  # the part goes to a machine that has not decoded the file
    (private_storage / "long.wav").write_bytes(b"RIFF not audio at all" * 100)
    with pytest.raises(Exception) as expected:
        Predictor(tiny_bundle).analyse(private_storage / "long.wav")
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.process_chunk.apply(args=[unpublished_parts[0]]).get() == "failed"
    long_file.refresh_from_db()
    assert long_file.status == "failed" and long_file.error == str(expected.value)
    # The file's other parts, delivered later, change nothing.
    assert tasks.process_chunk.apply(args=[unpublished_parts[1]]).get() == "skipped"
    assert not Prediction.objects.exists() and not FileChunk.objects.filter(status="done").exists()


def test_a_long_recording_without_a_voice_fails_whole_and_is_never_split(
    alice, rng, private_storage, small_parts, tiny_model
):
    room = (0.002 * rng.standard_normal(int(SECONDS * SR))).astype(np.float32)
    f = _stored(alice, private_storage, "room.wav", room)
    assert tasks.process_file.apply(args=[f.pk]).get() == "failed"
    f.refresh_from_db()
    assert f.status == "failed" and f.error.startswith("No speech detected") and f.parts == 0
    assert not FileChunk.objects.exists()
    assert recordings.decoded_copies(f.pk) == []  # its decoded copy went with it


def test_the_sweep_requeues_a_stranded_part_and_fails_one_out_of_attempts(
    long_file, tiny_model, unpublished_parts, settings, django_capture_on_commit_callbacks
):
    tasks.process_file.apply(args=[long_file.pk]).get()
    first, second = FileChunk.objects.filter(file=long_file)[:2]
    long_ago = timezone.now() - timedelta(hours=2)
    FileChunk.objects.filter(pk=first.pk).update(status="processing", attempts=1, started_at=long_ago)
    # A split file is processing for as long as its parts take: never swept itself.
    AudioFile.objects.filter(pk=long_file.pk).update(started_at=long_ago)
    sent = len(unpublished_parts)
    assert processing.sweep_stuck()["requeued"] == 1
    assert first.pk in unpublished_parts[sent:]
    long_file.refresh_from_db()
    assert long_file.status == "processing" and long_file.attempts == 1
    FileChunk.objects.filter(pk=second.pk).update(
        status="processing", attempts=settings.PROCESSING_MAX_ATTEMPTS, started_at=long_ago
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert processing.sweep_stuck()["failed"] == 1
    long_file.refresh_from_db()
    assert long_file.status == "failed" and f"after {settings.PROCESSING_MAX_ATTEMPTS} attempts" in long_file.error


def test_a_restarted_worker_takes_back_its_parts_and_the_file_finishes(
    long_file, tiny_model, unpublished_parts, monkeypatch, django_capture_on_commit_callbacks
):
    tasks.process_file.apply(args=[long_file.pk]).get()
    part = FileChunk.objects.filter(file=long_file).first()
    FileChunk.objects.filter(pk=part.pk).update(
        status="processing", attempts=1, started_at=timezone.now() - timedelta(seconds=5), claimed_by="w1@host"
    )
    monkeypatch.undo()  # messages reach the (eager) worker again
    with django_capture_on_commit_callbacks(execute=True):
        assert processing.take_back("w1@host", since=timezone.now()) == 1
        call_command("sweep_stuck", queued_s=0)  # the messages that went nowhere are published again
    long_file.refresh_from_db()
    assert long_file.status == "done" and Prediction.objects.filter(file=long_file).count() == 1
    assert FileChunk.objects.get(pk=part.pk).attempts == 2


def test_parts_share_the_owners_window_and_the_job_page_shows_progress_and_place(
    long_file, tiny_model, unpublished_parts, alice_client, bob_client, post_upload, rng, monkeypatch
):
    tasks.process_file.apply(args=[long_file.pk]).get()
    assert len(unpublished_parts) == 2  # two parts in flight: the window, as for files
    status = job_status(alice_client, long_file.job_id)["files"][0]
    assert (status["status"], status["parts"], status["parts_done"]) == ("processing", 4, 0)
    assert status["progress"] == "0 of 4 parts done"
    # Another user's file is published at once; alice's next file waits behind her parts.
    files_sent: list[list[int]] = []
    monkeypatch.setattr(dispatch, "send", files_sent.append)
    post_upload(bob_client, [upload_file("bob.wav", wav_bytes(rng))])
    post_upload(alice_client, [upload_file("next.wav", wav_bytes(rng))])
    bobs, alices = AudioFile.objects.get(user__username="bob"), AudioFile.objects.get(original_name="next.wav")
    assert files_sent == [[bobs.pk]]
    # In line: alice's two published parts, then bob's file; alice's file waits for them and her other parts.
    assert job_status(bob_client, bobs.job_id)["files"][0]["progress"] == "3rd in line"
    mine = job_status(alice_client, alices.job_id)["files"][0]
    assert (mine["place"], mine["progress"]) == (6, "6th in line")
    page = alice_client.get(f"/jobs/{long_file.job_id}/").content.decode()
    assert "0 of 4 parts done" in page


def test_the_sweep_merges_a_file_whose_last_part_was_stored_by_a_worker_that_then_died(
    long_file, tiny_model, unpublished_parts, monkeypatch, django_capture_on_commit_callbacks
):
    tasks.process_file.apply(args=[long_file.pk]).get()
    with monkeypatch.context() as m:
        m.setattr(chunking, "merge_if_complete", lambda file_id: False)  # each part stored, never merged
        for part in FileChunk.objects.filter(file=long_file):
            assert tasks.process_chunk.apply(args=[part.pk]).get() == "done"
    long_file.refresh_from_db()
    assert long_file.status == "processing" and not Prediction.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sweep_stuck")
    long_file.refresh_from_db()
    assert long_file.status == "done" and Prediction.objects.filter(file=long_file).count() == 1


# --- With a real worker process -------------------------------------------------------------------------
@pytest.fixture
def celery_worker(tiny_model, private_storage, tmp_path, settings):
    """A real prefork worker (one child) with 10 s parts, against the test database and Redis."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("no CELERY_BROKER_URL: a real worker needs Redis")
    from serweb.celery import app

    app.control.purge()
    worker = start_worker(
        tmp_path / "worker.log", name="parts", UPLOAD_ROOT=str(private_storage), ANALYSIS_PART_S="10",
        SPLIT_FILES_OVER_S="15",
    )  # fmt: skip
    yield worker
    stop_worker(worker)
    assert "Traceback" not in worker.log_text(), worker.log_text()[-4000:]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_analyses_an_uploaded_long_file_in_parts_once(
    alice_client, celery_worker, small_parts, rng, tiny_bundle, private_storage
):
    y = _recording(rng, SECONDS)
    buf = io.BytesIO()
    sf.write(buf, y, SR, format="WAV", subtype="PCM_16")
    assert alice_client.post("/upload/", {"files": [upload_file("talk.wav", buf.getvalue())]}).status_code == 302
    f = AudioFile.objects.get()
    deadline = time.monotonic() + 300
    while AudioFile.objects.filter(pk=f.pk, status__in=["queued", "processing"]).exists():
        assert time.monotonic() < deadline, celery_worker.log_text()[-4000:]
        time.sleep(0.25)
    f.refresh_from_db()
    assert (f.status, f.parts, f.error) == ("done", 4, "")
    assert list(f.chunks.values_list("status", "attempts")) == [("done", 1)] * 4
    stored = Prediction.objects.get(file=f)
    whole = Predictor(tiny_bundle).analyse(private_storage / f.stored_name)
    assert stored.top_emotion == whole.emotion and len(stored.timeline) == len(whole.timeline)
    assert stored.p_angry == pytest.approx(whole.probabilities["angry"], abs=1e-5)
    assert job_status(alice_client, f.job_id)["files"][0]["progress"] == ""


def test_decoded_copies_left_behind_are_pruned_once_old(tmp_path, monkeypatch):
    monkeypatch.setattr(recordings.tempfile, "gettempdir", lambda: str(tmp_path))
    fresh, old = recordings.decoded_path(1, "a.wav", SR), recordings.decoded_path(2, "b.wav", SR)
    for path in (fresh, old):
        path.write_bytes(bytes(8))
    staged = old.with_name(".2-half-written.part")
    staged.write_bytes(bytes(8))
    past = time.time() - recordings.DECODED_MAX_AGE_S - 60
    os.utime(old, (past, past))
    os.utime(staged, (past, past))
    recordings.prune_decoded()
    assert fresh.exists() and not old.exists() and not staged.exists()

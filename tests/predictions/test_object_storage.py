"""Recordings in an S3-compatible store (moto's server, its own process, over HTTP with boto3): uploads
become private objects and nothing stays on the local disk, workers analyse them from temporary
copies, the owner streams them with byte ranges while anyone else gets a 404, and deletion, retention
and failed files remove the objects.  Then the store is taken away in the middle of a real worker's
batch and given back: every file is done, once."""

from __future__ import annotations

import io
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import upload_file, wav_bytes
from django.test import Client
from django.utils import timezone
from s3_server import Gate, free_port, storage_env, storage_settings
from worker_process import start_worker, stop_worker

from predictions import tasks
from predictions.lifecycle import retention
from predictions.models import AudioFile, Job, PendingRemoval, Prediction

N = 12  # files in the batch the store goes away from
pytestmark = pytest.mark.django_db


def files_on_disk(root: Path) -> list[Path]:
    return [p for p in Path(root).rglob("*") if p.is_file()] if Path(root).exists() else []


def silence_wav() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(3 * 16000, dtype=np.float32), 16000, format="WAV")
    return buf.getvalue()


def test_an_upload_is_a_private_object_analysed_by_the_worker_and_nothing_stays_on_disk(
    alice_client, model_version, post_upload, rng, object_storage, s3_server, private_storage
):
    post_upload(alice_client, [upload_file("talk.wav", wav_bytes(rng, seconds=3))])
    f = AudioFile.objects.get()
    assert f.status == "done" and Prediction.objects.filter(file=f).exists()
    assert s3_server.keys(object_storage) == {f.stored_name}
    assert files_on_disk(private_storage) == []  # staged, moved to the bucket, nothing left behind
    acl = s3_server.client().get_object_acl(Bucket=object_storage, Key=f.stored_name)
    assert all("AllUsers" not in str(grant["Grantee"]) for grant in acl["Grants"])


def test_the_owner_streams_the_object_with_ranges_and_anyone_else_gets_404(
    alice_client, bob_client, model_version, post_upload, rng, object_storage, s3_server
):
    audio = wav_bytes(rng, seconds=3)
    post_upload(alice_client, [upload_file("talk.wav", audio)])
    url = f"/predictions/{Prediction.objects.get().pk}/audio/"
    whole = alice_client.get(url)
    assert whole.status_code == 200 and b"".join(whole.streaming_content) == audio
    assert whole["Accept-Ranges"] == "bytes" and whole["Content-Length"] == str(len(audio))
    part = alice_client.get(url, HTTP_RANGE="bytes=100-1099")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-1099/{len(audio)}"
    assert b"".join(part.streaming_content) == audio[100:1100]
    tail = alice_client.get(url, HTTP_RANGE="bytes=-10")
    assert b"".join(tail.streaming_content) == audio[-10:]
    assert alice_client.get(url, HTTP_RANGE=f"bytes={len(audio)}-").status_code == 416
    assert bob_client.get(url).status_code == 404
    assert bob_client.get(url, HTTP_RANGE="bytes=0-10").status_code == 404


def test_deleting_a_job_removes_its_objects(
    alice_client, model_version, post_upload, rng, object_storage, s3_server, django_capture_on_commit_callbacks
):
    post_upload(alice_client, [upload_file("a.wav", wav_bytes(rng)), upload_file("b.wav", wav_bytes(rng))])
    job = Job.objects.get()
    assert len(s3_server.keys(object_storage)) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert alice_client.post(f"/jobs/{job.pk}/delete/").status_code == 302
    assert s3_server.keys(object_storage) == set()


def test_a_deletion_while_the_store_is_down_removes_the_objects_once_it_is_back(
    alice_client, model_version, post_upload, rng, s3_server, gate, settings, django_capture_on_commit_callbacks
):
    bucket = s3_server.new_bucket()
    settings.STORAGES = {**settings.STORAGES, "recordings": storage_settings(gate.url, bucket)}
    post_upload(alice_client, [upload_file("a.wav", wav_bytes(rng)), upload_file("b.wav", wav_bytes(rng))])
    job = Job.objects.get()
    names = set(AudioFile.objects.values_list("stored_name", flat=True))
    assert s3_server.keys(bucket) == names and len(names) == 2

    gate.close()  # the store stops answering; the user deletes their job meanwhile
    with django_capture_on_commit_callbacks(execute=True):
        assert alice_client.post(f"/jobs/{job.pk}/delete/").status_code == 302
    assert not Job.objects.exists() and not AudioFile.objects.exists()
    assert s3_server.keys(bucket) == names  # still there: the store could not be asked
    assert set(PendingRemoval.objects.values_list("stored_name", flat=True)) == names

    tasks.remove_expired_audio()  # the hourly run, store still down: nothing lost, nothing forgotten
    assert PendingRemoval.objects.count() == 2
    gate.open()
    tasks.remove_expired_audio()
    assert s3_server.keys(bucket) == set() and not PendingRemoval.objects.exists()


def test_retention_removes_old_objects_and_keeps_predictions(
    alice_client, model_version, post_upload, rng, object_storage, s3_server, settings
):
    post_upload(alice_client, [upload_file("old.wav", wav_bytes(rng)), upload_file("new.wav", wav_bytes(rng))])
    old = AudioFile.objects.get(original_name="old.wav")
    new = AudioFile.objects.get(original_name="new.wav")
    AudioFile.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    settings.AUDIO_RETENTION_DAYS = 30
    assert retention.remove_expired_audio() == 1
    assert s3_server.keys(object_storage) == {new.stored_name}
    old.refresh_from_db()
    assert old.stored_name == "" and old.audio_removed_at is not None and Prediction.objects.filter(file=old).exists()
    assert alice_client.get(f"/predictions/{old.prediction.pk}/audio/").status_code == 404


def test_a_file_that_fails_in_the_worker_leaves_no_object(
    alice_client, model_version, post_upload, rng, object_storage, s3_server
):
    post_upload(alice_client, [upload_file("silence.wav", silence_wav()), upload_file("talk.wav", wav_bytes(rng))])
    silent, talk = AudioFile.objects.get(original_name="silence.wav"), AudioFile.objects.get(original_name="talk.wav")
    assert silent.status == "failed" and "silent" in silent.error and silent.stored_name == ""
    assert s3_server.keys(object_storage) == {talk.stored_name}


def test_an_upload_while_the_store_is_unreachable_is_a_503_that_keeps_nothing(
    alice, model_version, rng, settings, private_storage
):
    settings.STORAGES = {**settings.STORAGES, "recordings": storage_settings(f"http://127.0.0.1:{free_port()}", "b")}
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    response = client.post("/upload/", {"files": [upload_file("talk.wav", wav_bytes(rng))]})
    assert response.status_code == 503 and response["Retry-After"]
    assert "cannot reach its recordings" in response.content.decode()
    assert not AudioFile.objects.exists() and files_on_disk(private_storage) == []


def test_deep_healthz_says_whether_the_bucket_answers(object_storage, s3_server, settings):
    settings.CELERY_BROKER_URL = "memory://"
    response = Client().get("/healthz/?deep=1")
    assert response.status_code == 200 and response.json()["storage"] == "ok"
    settings.STORAGES = {**settings.STORAGES, "recordings": storage_settings(f"http://127.0.0.1:{free_port()}", "b")}
    response = Client().get("/healthz/?deep=1")
    assert response.status_code == 503 and response.json()["storage"].startswith("error: ")
    assert Client().get("/healthz/").status_code == 200  # liveness does not hang on the store


# --- The store taken away mid-batch, with a real worker ---------------------------------------------------
@pytest.fixture
def gate(s3_server):
    """The S3 server behind a gate that the test can close (connections refused) and open again."""
    g = Gate(s3_server.port)
    g.open()
    yield g
    g.close()


@pytest.fixture
def celery_worker(model_version, private_storage, tmp_path, gate, s3_server, settings):
    """A real prefork worker (one child) whose only way to the recordings is the bucket, through the gate."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("no CELERY_BROKER_URL: a real worker needs Redis")
    bucket = s3_server.new_bucket()
    settings.STORAGES = {**settings.STORAGES, "recordings": storage_settings(gate.url, bucket)}
    worker = start_worker(
        tmp_path / "worker.log",
        name="s3",
        UPLOAD_ROOT=str(tmp_path / "worker-scratch"),  # shares no disk with the web process
        **storage_env(gate.url, bucket),
    )
    worker.bucket = bucket
    yield worker
    stop_worker(worker)


def wait_until(condition, *, timeout_s: float, what: str, log=lambda: "") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout_s} s\n{log()[-4000:]}"
        time.sleep(0.25)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_store_going_away_mid_batch_loses_nothing(
    alice_client, celery_worker, gate, s3_server, rng, settings, tmp_path
):
    settings.DISPATCH_WINDOW_PER_USER = 1  # one file in flight at a time: the outage lands mid-batch
    files = [upload_file(f"clip-{i}.wav", wav_bytes(rng, seconds=4)) for i in range(N)]
    assert alice_client.post("/upload/", {"files": files}).status_code in (200, 302)
    job = Job.objects.get()
    assert len(s3_server.keys(celery_worker.bucket)) == N
    done = AudioFile.objects.filter(job=job, status="done")
    wait_until(lambda: done.count() >= 1, timeout_s=180, what="a first file done", log=celery_worker.log_text)
    gate.close()  # the worker meets the closed store on its next recording, and retries
    assert done.count() < N
    wait_until(
        lambda: "object store cannot be reached" in celery_worker.log_text(),
        timeout_s=120, what="the worker meeting the closed store", log=celery_worker.log_text,
    )  # fmt: skip
    gate.open()
    back = time.monotonic()
    wait_until(lambda: done.count() == N, timeout_s=240, what="every file done", log=celery_worker.log_text)
    print(f"store outage mid-batch: {N}/{N} done {time.monotonic() - back:.0f} s after the store was back")
    rows = list(AudioFile.objects.filter(job=job))
    assert all(f.status == "done" and f.error == "" for f in rows)
    assert Prediction.objects.filter(file__job=job).count() == N
    assert s3_server.keys(celery_worker.bucket) == {f.stored_name for f in rows}
    assert files_on_disk(tmp_path / "worker-scratch") == []
    job.refresh_from_db()
    assert job.status == "finished"

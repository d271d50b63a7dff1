"""Live mode's endpoint: every chunk of one take joins one job, analysed like any upload."""

from __future__ import annotations

import pytest
from conftest import job_status, upload_file, wav_bytes

from predictions.models import AudioFile, Job

pytestmark = pytest.mark.django_db


def post_chunk(client, rng, capture, *, job=None, name="Recording 2026-11-21 14:03"):
    data = {"files": [upload_file("chunk.wav", wav_bytes(rng, seconds=4, sr=16000))], "name": name}
    if job:
        data["job"] = str(job)
    with capture(execute=True):
        return client.post("/live/", data)


def test_chunks_of_one_take_join_one_job_and_are_analysed(
    alice_client, model_version, rng, django_capture_on_commit_callbacks
):
    first = post_chunk(alice_client, rng, django_capture_on_commit_callbacks).json()
    second = post_chunk(alice_client, rng, django_capture_on_commit_callbacks, job=first["job"]).json()
    assert second == first == {"job": first["job"], "status_url": f"/jobs/{first['job']}/status.json"}
    job = Job.objects.get()
    assert job.name == "Live: Recording 2026-11-21 14:03"
    status = job_status(alice_client, job.pk)
    assert status["finished"] and [f["status"] for f in status["files"]] == ["done", "done"]
    assert all(f["top_emotion"] for f in status["files"])


def test_a_chunk_cannot_join_someone_elses_job(
    alice_client, bob_client, model_version, rng, django_capture_on_commit_callbacks
):
    first = post_chunk(alice_client, rng, django_capture_on_commit_callbacks).json()
    response = post_chunk(bob_client, rng, django_capture_on_commit_callbacks, job=first["job"])
    assert response.status_code == 404
    assert AudioFile.objects.filter(job_id=first["job"]).count() == 1
    assert not AudioFile.objects.filter(user__username="bob").exists()


def test_a_chunk_without_audio_is_refused(alice_client, model_version):
    assert alice_client.post("/live/", {}).status_code == 400
    assert alice_client.get("/live/").status_code == 405

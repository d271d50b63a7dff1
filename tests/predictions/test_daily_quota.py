"""The daily audio allowance holds under concurrent uploads and counts what was accepted, not what is
still stored (deleting a job does not give its analysis back)."""

from __future__ import annotations

import threading

import pytest
from conftest import upload_file, wav_bytes
from django.db import connection

from predictions.models import AudioFile, Job
from predictions.pipeline import jobs, uploads

pytestmark = pytest.mark.usefixtures("model_version")

UPLOADS, FILES_EACH, SECONDS = 5, 2, 3.0


@pytest.mark.django_db(transaction=True)
def test_uploads_sent_at_the_same_moment_cannot_together_pass_the_daily_allowance(
    alice, rng, settings, monkeypatch, private_storage
):
    settings.UPLOAD_MAX_DAILY_AUDIO_S = 10
    monkeypatch.setattr(jobs.dispatch, "dispatch_quietly", lambda user_ids: None)  # acceptance only
    # The hostile interleaving, every time: each request has read the allowance and stored its first
    # file before any of them records its rows.
    everyone_stored = threading.Barrier(UPLOADS, timeout=60)
    real_probe, local = uploads.probe, threading.local()

    def probe_then_wait(*args, **kwargs):
        result = real_probe(*args, **kwargs)
        if not getattr(local, "waited", False):
            local.waited = True
            everyone_stored.wait()
        return result

    monkeypatch.setattr(uploads, "probe", probe_then_wait)
    payloads = [[wav_bytes(rng, seconds=SECONDS) for _ in range(FILES_EACH)] for _ in range(UPLOADS)]
    errors: list[BaseException] = []

    def send(i: int) -> None:
        try:
            files = [upload_file(f"u{i}-{k}.wav", data) for k, data in enumerate(payloads[i])]
            jobs.create_job(alice, files, name=f"upload {i}")
        except BaseException as e:  # reported by the main thread
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(UPLOADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and Job.objects.count() == UPLOADS
    accepted = AudioFile.objects.exclude(stored_name="")
    # 10 s allow three 3 s files, whichever request got there first; the rest say why.
    assert accepted.count() == 3 and sum(f.audio_s for f in accepted) == pytest.approx(9, abs=0.1)
    refused = AudioFile.objects.filter(stored_name="")
    assert refused.count() == UPLOADS * FILES_EACH - 3
    assert all("10 s of audio in 24 hours" in f.error for f in refused)
    # Nothing refused stays on disk.
    assert len([p for p in private_storage.rglob("*") if p.is_file()]) == 3


def test_deleting_jobs_does_not_give_back_the_allowance_they_used(alice_client, post_upload, rng, settings):
    settings.UPLOAD_MAX_DAILY_AUDIO_S = 5
    post_upload(alice_client, [upload_file(f"a{i}.wav", wav_bytes(rng, seconds=2.0)) for i in range(2)])
    job = Job.objects.get()
    assert alice_client.post(f"/jobs/{job.pk}/delete/").status_code == 302
    assert not Job.objects.exists()
    post_upload(alice_client, [upload_file("b.wav", wav_bytes(rng, seconds=2.0))])
    b = AudioFile.objects.get(original_name="b.wav")
    assert b.stored_name == "" and "have uploaded 4 s" in b.error

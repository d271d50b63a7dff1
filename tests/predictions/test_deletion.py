"""Users own their data: deleting a job or an account removes recordings and rows everywhere; retention
removes only old audio and keeps the predictions; each is logged without file names or contents."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from conftest import PASSWORD, upload_file, wav_bytes
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from predictions.lifecycle import retention
from predictions.models import AudioFile, Job, Prediction
from predictions.models.api import ApiToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_job(alice_client, model_version, post_upload, rng) -> Job:
    files = [upload_file("secret-a.wav", wav_bytes(rng)), upload_file("secret-b.wav", wav_bytes(rng))]
    post_upload(alice_client, files)
    return Job.objects.get()


def stored_paths(job_or_user_files) -> list:
    return [f.path for f in job_or_user_files if f.stored_name]


def test_deleting_a_job_on_its_page_removes_recordings_rows_history_and_csv(
    alice_client, alices_job, django_capture_on_commit_callbacks, caplog
):
    paths = stored_paths(alices_job.files.all())
    assert len(paths) == 2 and all(p.is_file() for p in paths)
    page = alice_client.get(f"/jobs/{alices_job.pk}/").content.decode()
    assert f"/jobs/{alices_job.pk}/delete/" in page and "for good" in page
    caplog.set_level(logging.INFO, logger="predictions.lifecycle.deletion")
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(f"/jobs/{alices_job.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/jobs/"  # My uploads, not Upload
    assert not any(p.exists() for p in paths)
    assert not Job.objects.exists() and not AudioFile.objects.exists() and not Prediction.objects.exists()
    assert "secret-a" not in alice_client.get("/history/").content.decode()
    assert b"".join(alice_client.get("/history.csv").streaming_content).decode().count("\n") == 1
    assert alice_client.get(f"/jobs/{alices_job.pk}/").status_code == 404
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert f"deleted job {alices_job.pk}" in logged and "2 recordings removed" in logged and "secret" not in logged


def test_the_delete_button_is_a_post_and_only_the_owners(bob_client, alices_job):
    assert bob_client.post(f"/jobs/{alices_job.pk}/delete/").status_code == 404
    assert Client().get(f"/jobs/{alices_job.pk}/delete/").status_code in (302, 405)
    assert Job.objects.filter(pk=alices_job.pk).exists()


def test_deleting_one_recording_keeps_the_rest_of_its_job(
    alice_client, alices_job, django_capture_on_commit_callbacks, caplog
):
    a, b = alices_job.files.order_by("original_name")
    page = alice_client.get(f"/predictions/{a.prediction.pk}/").content.decode()
    assert f"/predictions/{a.prediction.pk}/delete/" in page and "Delete this recording" in page
    caplog.set_level(logging.INFO, logger="predictions.lifecycle.deletion")
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(f"/predictions/{a.prediction.pk}/delete/", follow=True)
    assert response.redirect_chain[-1][0] == "/history/"
    assert "“secret-a.wav” is deleted" in response.content.decode()
    assert not a.path.exists() and b.path.is_file()
    assert list(AudioFile.objects.values_list("original_name", flat=True)) == ["secret-b.wav"]
    assert Prediction.objects.count() == 1 and Job.objects.get().files.count() == 1
    history = response.content.decode()
    assert "secret-b.wav" in history and "secret-a.wav</a>" not in history
    assert f"deleted file {a.pk}" in " ".join(r.getMessage() for r in caplog.records)
    # The last recording of a job takes the job with it.
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(f"/predictions/{b.prediction.pk}/delete/")
    assert not Job.objects.exists() and not b.path.exists()


def test_only_the_owner_can_delete_rename_or_annotate_a_recording(alice_client, bob_client, alices_job):
    f = alices_job.files.first()
    pk = f.prediction.pk
    assert bob_client.post(f"/predictions/{pk}/delete/").status_code == 404
    assert bob_client.post(f"/predictions/{pk}/edit/", {"original_name": "mine", "note": "x"}).status_code == 404
    assert alice_client.get(f"/predictions/{pk}/delete/").status_code == 405
    f.refresh_from_db()
    assert f.original_name.startswith("secret-") and f.note == ""


def test_a_recording_is_renamed_and_given_a_note(alice_client, alices_job):
    pk = alices_job.files.first().prediction.pk
    response = alice_client.post(
        f"/predictions/{pk}/edit/",
        {"original_name": " Interview with Sam ", "note": "Second take, noisy room."},
        follow=True,
    )
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == f"/predictions/{pk}/"
    assert '<h1 class="file-name">Interview with Sam</h1>' in page and "Second take, noisy room." in page
    assert "Interview with Sam" in alice_client.get("/history/").content.decode()
    assert "Interview with Sam" in b"".join(alice_client.get("/history.csv").streaming_content).decode()
    refused = alice_client.post(f"/predictions/{pk}/edit/", {"original_name": "  ", "note": ""})
    assert refused.status_code == 400 and "Give the recording a name." in refused.content.decode()
    assert '<h1 class="file-name">Interview with Sam</h1>' in refused.content.decode()


def test_deleting_a_job_through_the_api(alice, alices_job, django_capture_on_commit_callbacks):
    raw = ApiToken.issue(alice, "t")[1]
    paths = stored_paths(alices_job.files.all())
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().delete(f"/api/v1/jobs/{alices_job.pk}", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 204 and not any(p.exists() for p in paths)
    assert Client().get(f"/api/v1/jobs/{alices_job.pk}", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 404


def test_deleting_the_account_needs_the_password_and_removes_everything(
    alice, alice_client, alices_job, bob, make_prediction, model_version, django_capture_on_commit_callbacks
):
    ApiToken.issue(alice, "t")
    bobs = make_prediction(bob, model=model_version)
    paths = stored_paths(AudioFile.objects.filter(user=alice))
    refused = alice_client.post("/account/delete/", {"password": "wrong"})
    assert refused.status_code == 400 and "not your password" in refused.content.decode()
    assert get_user_model().objects.filter(pk=alice.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/account/delete/", {"password": PASSWORD})
    assert response.status_code == 302
    assert not get_user_model().objects.filter(username="alice").exists()
    assert not Job.objects.filter(user_id=alice.pk).exists() and not ApiToken.objects.exists()
    assert not any(p.exists() for p in paths)
    assert list(Prediction.objects.all()) == [bobs]
    assert alice_client.get("/account/").status_code == 302  # signed out


def test_retention_removes_only_old_audio_and_keeps_predictions(alice_client, alices_job, settings):
    old, recent = alices_job.files.order_by("id")
    AudioFile.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    old_path, recent_path = old.path, recent.path
    settings.AUDIO_RETENTION_DAYS = None
    assert retention.remove_expired_audio() == 0 and old_path.is_file()
    settings.AUDIO_RETENTION_DAYS = 30
    assert retention.remove_expired_audio() == 1
    assert not old_path.exists() and recent_path.is_file()
    old.refresh_from_db()
    assert old.audio_removed_at is not None and old.stored_name == "" and old.prediction.pk
    assert retention.remove_expired_audio() == 0  # idempotent
    page = alice_client.get(f"/predictions/{old.prediction.pk}/").content.decode()
    assert "was removed from storage" in page and 'id="prediction-audio"' not in page
    assert alice_client.get(f"/predictions/{old.prediction.pk}/audio/").status_code == 404
    recent_page = alice_client.get(f"/predictions/{recent.prediction.pk}/").content.decode()
    assert 'id="prediction-audio"' in recent_page


def test_retention_runs_as_a_beat_task(settings):
    from predictions.tasks import remove_expired_audio

    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == remove_expired_audio.name)
    assert entry["schedule"] > 0
    assert remove_expired_audio.delay().get() == 0

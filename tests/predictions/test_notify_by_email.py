"""A long job's end is announced by email to a user who asked for it on the account page, and to nobody else."""

from __future__ import annotations

import pytest
from conftest import upload_file, wav_bytes

from predictions.models import AccountSettings, Job

pytestmark = pytest.mark.django_db


def opt_in(client, email: str = "alice@example.org"):
    return client.post("/account/notifications/", {"email": email, "email_when_done": "on"})


def test_an_opted_in_user_is_emailed_when_a_long_job_finishes(
    alice, alice_client, model_version, post_upload, rng, settings, mailoutbox
):
    settings.NOTIFY_AFTER_S = 0  # every job counts as long here
    settings.SITE_URL = "https://serweb.example.org/"
    assert opt_in(alice_client).status_code == 302
    alice.refresh_from_db()
    assert alice.email == "alice@example.org" and AccountSettings.objects.get(user=alice).email_when_done
    post_upload(alice_client, [upload_file("meeting.wav", wav_bytes(rng)), upload_file("notes.wav", b"not audio" * 50)])
    job = Job.objects.get()
    assert job.status == Job.Status.FINISHED
    (message,) = mailoutbox
    assert message.to == ["alice@example.org"] and message.subject == "serweb: “meeting.wav +1” is finished"
    assert "1 analysed, 1 could not be analysed" in message.body
    assert f"https://serweb.example.org/jobs/{job.pk}/" in message.body


def test_short_jobs_and_users_who_did_not_ask_get_no_email(
    alice, alice_client, bob, bob_client, model_version, post_upload, rng, settings, mailoutbox
):
    settings.NOTIFY_AFTER_S = 3600
    opt_in(alice_client)
    post_upload(alice_client, [upload_file("quick.wav", wav_bytes(rng))])
    settings.NOTIFY_AFTER_S = 0
    bob.email = "bob@example.org"
    bob.save()
    post_upload(bob_client, [upload_file("bobs.wav", wav_bytes(rng))])
    assert Job.objects.filter(status=Job.Status.FINISHED).count() == 2
    assert mailoutbox == []


def test_asking_for_email_without_an_address_is_refused(alice, alice_client):
    response = alice_client.post("/account/notifications/", {"email": "", "email_when_done": "on"})
    assert response.status_code == 400 and "Give an email address" in response.content.decode()
    assert not AccountSettings.objects.filter(user=alice, email_when_done=True).exists()

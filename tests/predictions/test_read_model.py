"""One read model, one shape: for one job with a done file, a failed file and an uncertain prediction,
the page's status.json, the API, the history CSV and the webhook body say the same thing field by field."""

from __future__ import annotations

import csv
import io
import json

import pytest
from webhook_receiver import Receiver

from mlcore.labels import EMOTIONS
from predictions.lifecycle import webhooks
from predictions.models import AudioFile, Job
from predictions.models.api import ApiToken, JobCallback

pytestmark = pytest.mark.django_db

SHARED = ("id", "name", "status", "reason", "prediction_id", "top_emotion", "confidence", "probabilities")
SHARED += ("uncertain", "uncertain_reason")
NO_VOICE = "No speech detected (0.0 s of voice found)."


@pytest.fixture
def mixed_job(alice, make_prediction, model_version) -> Job:
    job = Job.objects.create(user=alice)
    make_prediction(alice, model=model_version, job=job, name="calm-day.wav", emotion="calm", top_probability=0.81)
    make_prediction(
        alice, model=model_version, job=job, name="murmur.wav", emotion="sad", top_probability=0.34,
        uncertain_reason="little speech (0.6 s)",
    )  # fmt: skip
    AudioFile.objects.create(job=job, user=alice, original_name="tone.wav", status="failed", error=NO_VOICE)
    job.refresh_status()
    return job


def _webhook_body(job: Job, settings) -> dict:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    receiver = Receiver()
    try:
        JobCallback.objects.create(job=job, url=receiver.url)
        assert webhooks.deliver(job.pk) == webhooks.DELIVERED
        return json.loads(receiver.received[-1].body)
    finally:
        receiver.close()


def _csv_files(client) -> dict[int, dict]:
    rows = list(csv.DictReader(io.StringIO(client.get("/history.csv").getvalue().decode())))
    return {int(r["file_id"]): r for r in rows}


def test_the_page_the_api_the_csv_and_the_webhook_agree_field_by_field(alice, alice_client, mixed_job, settings):
    page = alice_client.get(f"/jobs/{mixed_job.pk}/status.json").json()
    token = ApiToken.issue(alice, "agree")[1]
    api = alice_client.get(f"/api/v1/jobs/{mixed_job.pk}", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    hook = _webhook_body(mixed_job, settings)
    rows = _csv_files(alice_client)

    for field in ("id", "status", "total", "done", "failed", "finished", "all_failed"):
        assert page[field] == api[field] == hook[field], field
    assert (page["status"], page["done"], page["failed"], page["all_failed"]) == ("finished", 2, 1, False)

    by_name = {f["name"]: f for f in page["files"]}
    assert by_name["tone.wav"]["reason"] == NO_VOICE and by_name["tone.wav"]["top_emotion"] is None
    assert by_name["murmur.wav"]["uncertain"] is True and by_name["murmur.wav"]["uncertain_reason"] == (
        "little speech (0.6 s)"
    )
    assert by_name["calm-day.wav"]["top_emotion"] == "calm" and by_name["calm-day.wav"]["uncertain"] is False
    for mine, theirs, body in zip(page["files"], api["files"], hook["files"], strict=True):
        assert {k: mine[k] for k in SHARED} == {k: theirs[k] for k in SHARED} == {k: body[k] for k in SHARED}

        row = rows[mine["id"]]
        assert (row["file"], row["job"], row["status"]) == (mine["name"], str(page["id"]), mine["status"])
        assert row["reason"] == (mine["reason"] or "")
        assert row["prediction_id"] == str(mine["prediction_id"] or "")
        assert row["top_emotion"] == (mine["top_emotion"] or "")
        assert row["uncertain_reason"] == (mine["uncertain_reason"] or "")
        if mine["status"] == "done":
            assert row["uncertain"] == str(mine["uncertain"]).lower()
            assert float(row["confidence"]) == pytest.approx(mine["confidence"], abs=1e-6)
            for e in EMOTIONS:
                assert float(row[e]) == pytest.approx(mine["probabilities"][e], abs=1e-6)
        else:
            assert row["uncertain"] == row["confidence"] == "" and all(row[e] == "" for e in EMOTIONS)


def test_the_api_prediction_is_the_pages_file_and_the_page_shows_the_same_reasons(alice, alice_client, mixed_job):
    page = alice_client.get(f"/jobs/{mixed_job.pk}/status.json").json()
    token = ApiToken.issue(alice, "agree")[1]
    html = alice_client.get(f"/jobs/{mixed_job.pk}/").content.decode()
    for f in page["files"]:
        if f["prediction_id"] is None:
            assert f["reason"] in html
            continue
        detail = alice_client.get(f"/api/v1/predictions/{f['prediction_id']}", HTTP_AUTHORIZATION=f"Bearer {token}")
        p = detail.json()
        assert (p["job_id"], p["file_name"], p["top_emotion"]) == (page["id"], f["name"], f["top_emotion"])
        assert (p["probabilities"], p["uncertain"], p["uncertain_reason"]) == (
            f["probabilities"], f["uncertain"], f["uncertain_reason"],
        )  # fmt: skip
        # The job page's row is the fragment status.json carries: one verdict markup, rendered once.
        assert f["verdict_html"] in html

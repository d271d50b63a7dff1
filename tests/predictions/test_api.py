"""The REST API: token lifecycle, jobs through the upload service, predictions, the active model,
problem-details errors, rate limits, and anyone else's object being a 404."""

from __future__ import annotations

import csv
import io

import pytest
from conftest import PASSWORD, upload_file, wav_bytes, zip_bytes
from django.test import Client

from predictions.models import Job, Prediction
from predictions.models.api import ApiToken, hash_token

pytestmark = pytest.mark.django_db


def bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def alice_token(alice) -> str:
    return ApiToken.issue(alice, "tests")[1]


@pytest.fixture
def bob_token(bob) -> str:
    return ApiToken.issue(bob, "tests")[1]


@pytest.fixture
def api_upload(django_capture_on_commit_callbacks):
    """POST files to /api/v1/jobs; queued tasks run (eagerly) once the upload commits."""

    def post(token: str, files: list, **data):
        with django_capture_on_commit_callbacks(execute=True):
            return Client().post("/api/v1/jobs", {"files": files, **data}, **bearer(token))

    return post


# --- Tokens ---------------------------------------------------------------------------------------------
def test_a_script_bootstraps_a_token_with_its_password_and_the_token_is_stored_hashed(alice):
    response = Client().post(
        "/api/v1/tokens", {"username": "alice", "password": PASSWORD, "name": "batch"}, content_type="application/json"
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "token"} and body["name"] == "batch"
    row = ApiToken.objects.get(pk=body["id"])
    assert row.key_hash == hash_token(body["token"]) and body["token"] not in (row.key_hash, row.prefix)
    assert body["token"].startswith(row.prefix) and len(row.prefix) < len(body["token"]) // 3
    # Shown once: listing never returns it again.
    listing = Client().get("/api/v1/tokens", **bearer(body["token"]))
    assert listing.status_code == 200 and body["token"] not in listing.content.decode()
    assert ApiToken.objects.get(pk=body["id"]).last_used_at is not None


def test_wrong_password_gets_a_401_problem(alice):
    response = Client().post(
        "/api/v1/tokens", {"username": "alice", "password": "nope", "name": "x"}, content_type="application/json"
    )
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "Wrong username or password."


def test_a_revoked_token_gets_401(alice_token):
    token_id = ApiToken.objects.get().pk
    assert Client().get("/api/v1/jobs", **bearer(alice_token)).status_code == 200
    assert Client().delete(f"/api/v1/tokens/{token_id}", **bearer(alice_token)).status_code == 204
    response = Client().get("/api/v1/jobs", **bearer(alice_token))
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert "revoked" in response.json()["detail"]


def test_no_token_is_401_not_403():
    response = Client().get("/api/v1/jobs")
    assert response.status_code == 401 and response.json()["status"] == 401


def test_other_users_token_is_404(alice_token, bob_token):
    bobs = ApiToken.objects.get(user__username="bob")
    assert Client().delete(f"/api/v1/tokens/{bobs.pk}", **bearer(alice_token)).status_code == 404
    assert ApiToken.objects.filter(pk=bobs.pk).exists()


# --- Jobs -----------------------------------------------------------------------------------------------
def test_jobs_are_created_through_the_upload_service_with_the_forms_reasons(
    alice_token, model_version, api_upload, rng
):
    files = [upload_file("good.wav", wav_bytes(rng, seconds=3)), upload_file("fake.wav", b"not audio at all" * 50)]
    response = api_upload(alice_token, files)
    assert response.status_code == 202
    job = response.json()
    # Absolute URLs, so a client needs no base of its own to follow them.
    assert response["Location"] == f"http://testserver/api/v1/jobs/{job['id']}" == job["url"]
    detail = Client().get(response["Location"], **bearer(alice_token)).json()
    assert detail["url"] == response["Location"]
    listed = Client().get("/api/v1/jobs", **bearer(alice_token)).json()["results"]
    assert listed[0]["url"] == response["Location"]
    assert detail["status"] == "finished" and detail["total"] == 2 and detail["done"] == 1 and detail["failed"] == 1
    by_name = {f["name"]: f for f in detail["files"]}
    good, fake = by_name["good.wav"], by_name["fake.wav"]
    assert good["status"] == "done" and good["reason"] is None
    assert good["top_emotion"] == max(good["probabilities"], key=good["probabilities"].get)
    assert good["confidence"] == pytest.approx(max(good["probabilities"].values()))
    assert isinstance(good["uncertain"], bool)
    assert (
        fake["status"] == "failed" and "not a WAV, FLAC, OGG or MP3" in fake["reason"] and fake["top_emotion"] is None
    )


def test_a_zip_is_unpacked_like_on_the_form(alice_token, model_version, api_upload, rng):
    archive = zip_bytes({"a.wav": wav_bytes(rng), "b.wav": wav_bytes(rng)})
    response = api_upload(alice_token, [upload_file("batch.zip", archive)])
    assert response.status_code == 202 and response.json()["total"] == 2


def test_too_many_files_is_the_forms_message_as_a_problem(alice_token, settings, api_upload, rng):
    settings.UPLOAD_MAX_FILES = 1
    response = api_upload(alice_token, [upload_file("a.wav", b"x"), upload_file("b.wav", b"y")])
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert "at most 1 can be uploaded at once" in body["detail"] and "files" in body["errors"]
    assert not Job.objects.exists()


def test_no_files_is_a_400_problem(alice_token, api_upload):
    response = api_upload(alice_token, [])
    assert response.status_code == 400 and "files" in response.json()["errors"]


def test_job_list_is_paginated_newest_first(alice, alice_token):
    jobs = [Job.objects.create(user=alice) for _ in range(3)]
    body = Client().get("/api/v1/jobs?page_size=2", **bearer(alice_token)).json()
    assert body["count"] == 3 and [j["id"] for j in body["results"]] == [jobs[2].pk, jobs[1].pk]
    assert body["next"] and Client().get(body["next"], **bearer(alice_token)).json()["results"][0]["id"] == jobs[0].pk


@pytest.mark.parametrize("template", ["/api/v1/jobs/{job}", "/api/v1/predictions/{pred}"])
def test_other_users_job_and_prediction_are_404(alice, bob_token, make_prediction, model_version, template):
    p = make_prediction(alice, model=model_version)
    url = template.format(job=p.file.job_id, pred=p.pk)
    response = Client().get(url, **bearer(bob_token))
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
    assert Client().delete(f"/api/v1/jobs/{p.file.job_id}", **bearer(bob_token)).status_code == 404
    assert Prediction.objects.filter(pk=p.pk).exists()


# --- Predictions, CSV, models -------------------------------------------------------------------------
def test_predictions_take_the_history_filters_and_include_the_timeline(
    alice, alice_token, make_prediction, model_version
):
    happy = make_prediction(alice, emotion="happy", model=model_version)
    make_prediction(alice, emotion="sad", model=model_version)
    listing = Client().get("/api/v1/predictions?emotion=happy", **bearer(alice_token)).json()
    assert [p["id"] for p in listing["results"]] == [happy.pk]
    Prediction.objects.filter(pk=happy.pk).update(
        timeline=[{"start_s": 0.0, "end_s": 4.0, "probabilities": happy.probabilities}]
    )
    detail = Client().get(f"/api/v1/predictions/{happy.pk}", **bearer(alice_token)).json()
    assert detail["timeline"][0]["end_s"] == 4.0 and detail["audio_removed_at"] is None
    bad = Client().get("/api/v1/predictions?start=2026-02-10&end=2026-01-01", **bearer(alice_token))
    assert bad.status_code == 400 and "before the start date" in bad.json()["detail"]


def test_csv_has_the_history_columns_and_filters(alice, alice_token, bob, make_prediction, model_version):
    make_prediction(alice, emotion="happy", name="mine.wav", model=model_version)
    make_prediction(alice, emotion="sad", name="sad.wav", model=model_version)
    make_prediction(bob, emotion="happy", name="bobs.wav", model=model_version)
    response = Client().get("/api/v1/predictions.csv?emotion=happy", HTTP_ACCEPT="text/csv", **bearer(alice_token))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    web = Client()
    web.force_login(alice)
    web_rows = list(csv.reader(io.StringIO(b"".join(web.get("/history.csv?emotion=happy").streaming_content).decode())))
    assert rows[0] == web_rows[0] and [r[2] for r in rows[1:]] == ["mine.wav"] and rows == web_rows


def test_active_model_has_name_labels_and_headline_metrics(alice_token, model_version):
    body = Client().get("/api/v1/models/active", **bearer(alice_token)).json()
    assert body["name"] == model_version.name and body["architecture"] == model_version.architecture
    assert body["labels"][:3] == ["neutral", "calm", "happy"] and "accuracy" in body["metrics"]


def test_no_active_model_is_a_404_problem(alice_token):
    response = Client().get("/api/v1/models/active", **bearer(alice_token))
    assert response.status_code == 404 and "administrator" in response.json()["detail"]


def test_unknown_api_url_is_a_problem_and_the_site_404_stays_html(alice_token):
    response = Client().get("/api/v1/nothing-here", **bearer(alice_token))
    assert response.status_code == 404 and response.json()["status"] == 404
    assert "text/html" in Client().get("/nothing-here/")["Content-Type"]


# --- Limits ---------------------------------------------------------------------------------------------
def test_rate_limit_answers_429_with_retry_after(alice_token, settings):
    from django.core.cache import cache

    cache.clear()
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "user": "3/minute"}
    codes = [Client().get("/api/v1/jobs", **bearer(alice_token)).status_code for _ in range(3)]
    response = Client().get("/api/v1/jobs", **bearer(alice_token))
    assert codes == [200, 200, 200] and response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60 and response.json()["status"] == 429
    cache.clear()


def test_schema_and_docs_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200 and "/api/v1/jobs" in schema.json()["paths"]
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs and "cdn" not in docs.lower() and "/static/drf_spectacular_sidecar/" in docs


def test_token_bootstrap_is_limited_per_address(alice, settings):
    from django.core.cache import cache

    cache.clear()
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "anon": "2/minute"}
    guess = {"username": "alice", "password": "guess", "name": "x"}
    codes = [Client().post("/api/v1/tokens", guess, content_type="application/json").status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    cache.clear()


def test_the_job_list_costs_the_same_queries_for_3_or_30_jobs(alice, alice_token, django_assert_max_num_queries):
    from predictions.models import AudioFile

    def add_jobs(n: int) -> None:
        for _ in range(n):
            job = Job.objects.create(user=alice)
            AudioFile.objects.create(job=job, user=alice, original_name="a.wav", status=AudioFile.Status.DONE)

    add_jobs(3)
    with django_assert_max_num_queries(6):
        small = Client().get("/api/v1/jobs", **bearer(alice_token)).json()
    add_jobs(27)
    with django_assert_max_num_queries(6):
        big = Client().get("/api/v1/jobs", **bearer(alice_token)).json()
    assert small["results"][0]["done"] == 1 and big["count"] == 30 and all(j["total"] == 1 for j in big["results"])

"""Requests that used to end in a 500 now end in a message: out-of-range history dates."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("query", ["end=9999-12-31", "start=9999-12-31", "start=0001-01-01&end=0001-01-02"])
def test_history_page_with_a_date_past_the_calendar_shows_a_form_error(alice_client, query):
    response = alice_client.get(f"/history/?{query}")
    assert response.status_code == 200
    assert "Pick a date between 1900-01-01 and 2999-12-31." in response.content.decode()


@pytest.mark.parametrize("query", ["end=9999-12-31", "start=9999-12-31"])
def test_history_csv_with_a_date_past_the_calendar_is_refused_with_the_reason(alice_client, query):
    response = alice_client.get(f"/history.csv?{query}")
    assert response.status_code == 400
    assert "Pick a date between" in response.content.decode()


def test_history_csv_with_a_valid_filter_still_exports(alice_client):
    response = alice_client.get("/history.csv?start=2024-01-01&end=2999-12-31")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")


# --- Every view and API operation, with hostile values -------------------------------------------------
# "²" and "٣" pass str.isdigit(); "²" is no number to int(), "٣" is 3 to it: neither is an id.
HOSTILE = ["²", "٣", "-1", "0", "9" * 30, "1e3", " 1", "1\x00", "null", "' OR 1=1 --", "x" * 5000]
PAGES = [
    ("get", "/compare/", "p"),
    ("get", "/history/", "model"),
    ("get", "/history/", "page"),
    ("get", "/history/", "emotion"),
    ("get", "/history/", "start"),
    ("get", "/history.csv", "model"),
    ("get", "/jobs/", "page"),
    ("post", "/live/", "job"),
    ("post", "/upload/", "files"),
    ("post", "/account/webhook/", "default_url"),
    ("post", "/account/tokens/", "name"),
    ("post", "/account/delete/", "password"),
    ("get", "/api/v1/jobs", "page"),
    ("get", "/api/v1/predictions", "model"),
    ("get", "/api/v1/predictions", "start"),
    ("get", "/api/v1/predictions", "page"),
    ("get", "/api/v1/predictions.csv", "model"),
    ("post", "/api/v1/jobs", "callback_url"),
    ("post", "/api/v1/tokens", "name"),
]
# Every route with an object id in its path, and its methods.
ID_ROUTES = [
    ("get", "/jobs/{}/"),
    ("get", "/jobs/{}/status.json"),
    ("post", "/jobs/{}/delete/"),
    ("get", "/predictions/{}/"),
    ("get", "/predictions/{}/audio/"),
    ("get", "/predictions/{}/timeline.csv"),
    ("get", "/models/{}/"),
    ("post", "/account/tokens/{}/revoke/"),
    ("get", "/api/v1/jobs/{}"),
    ("delete", "/api/v1/jobs/{}"),
    ("get", "/api/v1/predictions/{}"),
    ("delete", "/api/v1/tokens/{}"),
]


@pytest.fixture
def hostile_client(alice, settings):
    from django.test import Client

    from predictions.models.api import ApiToken

    settings.API_RATE_LIMITS = {k: "100000/minute" for k in settings.API_RATE_LIMITS}
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(alice, 't')[1]}")
    client.force_login(alice)
    return client


def _wav_upload(rng):
    from conftest import upload_file, wav_bytes

    return upload_file("chunk.wav", wav_bytes(rng, seconds=1.0))


@pytest.mark.parametrize("method,url,field", PAGES)
def test_no_page_or_api_operation_fails_on_a_hostile_value(hostile_client, method, url, field, rng, model_version):
    for value in HOSTILE:
        if method == "get":
            response = hostile_client.get(url, {field: [value, "1"]})
        else:
            data = {field: value}
            if field != "files" and url in ("/live/", "/upload/", "/api/v1/jobs"):
                data["files"] = _wav_upload(rng)
            response = getattr(hostile_client, method)(url, data)
        assert response.status_code < 500, (url, field, value, response.status_code)


@pytest.mark.parametrize("method,route", ID_ROUTES)
def test_an_id_that_is_not_one_is_a_404_never_a_500(hostile_client, method, route):
    for value in ["9" * 19, "9" * 30, "٣", "00000000000000000000001"]:
        response = getattr(hostile_client, method)(route.format(value))
        assert response.status_code == 404, (route, value, response.status_code)


def test_a_live_chunk_numbered_with_a_superscript_is_refused_with_a_reason(hostile_client, rng):
    take = "6f1c1e0e-51c5-4b1e-9d43-3f6f3c1e2a10"
    for seq in ("²", "٣", "-1", "1e3"):
        response = hostile_client.post("/live/", {"take": take, "seq": seq, "files": _wav_upload(rng)})
        assert response.status_code == 400 and "`seq`" in response.json()["error"], seq
    response = hostile_client.post("/live/", {"take": "²", "seq": "0", "files": _wav_upload(rng)})
    assert response.status_code == 400 and "`take`" in response.json()["error"]


def test_comparing_a_superscript_id_says_what_to_do(hostile_client):
    response = hostile_client.get("/compare/", {"p": ["²", "1"]}, follow=True)
    assert response.status_code == 200 and "choose them in the history" in response.content.decode()


def test_a_thousand_file_parts_to_the_api_are_a_400_with_the_reason(hostile_client, settings):
    from test_upload_limits import multipart

    body, content_type = multipart([(f"{i}.wav", b"RIFF") for i in range(1000)])
    response = hostile_client.generic("POST", "/api/v1/jobs", body, content_type=content_type)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert f"at most {settings.UPLOAD_MAX_FILES} files" in response.json()["detail"]

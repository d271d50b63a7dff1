"""While a service is down, requests say so: the API's rate limits fail open (logged) when the cache is
unreachable, and pages and the API answer 503 with Retry-After while PostgreSQL is unreachable."""

from __future__ import annotations

import logging
import socket

import pytest
from django.db import connection
from django.test import Client

from predictions.models.api import ApiToken


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def api(alice) -> Client:
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(alice, 'o')[1]}")


@pytest.fixture
def cache_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


@pytest.mark.django_db
def test_the_api_answers_while_the_rate_limit_cache_is_down_and_logs_it(api, cache_down, caplog):
    with caplog.at_level(logging.WARNING, logger="predictions.api.throttling"):
        response = api.get("/api/v1/jobs")
    assert response.status_code == 200 and response.json()["results"] == []
    assert "the cache is unreachable" in caplog.text


@pytest.mark.django_db
def test_token_bootstrap_answers_while_the_rate_limit_cache_is_down(alice, cache_down):
    from conftest import PASSWORD

    response = Client(raise_request_exception=False).post(
        "/api/v1/tokens", {"username": "alice", "password": PASSWORD, "name": "x"}, content_type="application/json"
    )
    assert response.status_code == 201


@pytest.fixture
def database_down(transactional_db):
    """PostgreSQL refusing connections: the connection is pointed at a closed port until the test ends."""
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(closed_port())
    yield
    connection.close()
    connection.settings_dict["PORT"] = port


@pytest.mark.parametrize("url", ["/upload/", "/jobs/", "/history/", "/accounts/login/"])
def test_pages_answer_503_with_retry_after_while_the_database_is_down(alice, url, request):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    request.getfixturevalue("database_down")
    response = client.get(url)
    assert response.status_code == 503 and response["Retry-After"] == "30"
    text = response.content.decode()
    assert "cannot reach its database" in text and "Try again in a minute" in text


def test_the_api_answers_503_with_retry_after_while_the_database_is_down(api, request):
    request.getfixturevalue("database_down")
    response = api.get("/api/v1/jobs")
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response["Content-Type"] == "application/problem+json"
    assert "cannot reach its database" in response.json()["detail"]


@pytest.mark.django_db
def test_an_unexpected_error_page_no_longer_promises_that_everything_is_safe(alice_client, monkeypatch):
    from predictions.web import views

    def boom(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views.history, "jobs_with_counts", boom)
    alice_client.raise_request_exception = False
    response = alice_client.get("/jobs/")
    assert response.status_code == 500 and "are safe" not in response.content.decode()

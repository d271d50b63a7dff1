"""/healthz/ checks the database and the broker and says which failed."""

from __future__ import annotations

import os

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_healthz_is_200_when_database_and_broker_answer(settings):
    if not os.environ.get("CELERY_BROKER_URL"):
        pytest.skip("no CELERY_BROKER_URL: `make test` points the suite at Redis")
    settings.CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]
    response = Client().get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}


def test_healthz_says_when_tasks_run_without_a_broker(settings):
    settings.CELERY_BROKER_URL = "memory://"
    response = Client().get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "not configured (tasks run in the web process)"}


def test_healthz_is_503_and_names_the_broker_when_it_is_down(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/healthz/")
    assert response.status_code == 503
    assert response.json()["database"] == "ok" and response.json()["broker"].startswith("error")


def test_healthz_is_exempt_from_the_https_redirect(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.CELERY_BROKER_URL = "memory://"
    response = Client().get("/healthz/")
    assert response.status_code == 200 and response.json()["database"] == "ok"
    assert Client().get("/accounts/login/").status_code == 301

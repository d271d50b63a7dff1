"""/healthz/ checks the database and the broker and says which failed."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_healthz_is_200_when_database_and_broker_answer(settings):
    response = Client().get("/healthz/")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] == "ok" or body["broker"].startswith("not configured")


def test_healthz_is_503_and_names_the_broker_when_it_is_down(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/healthz/")
    assert response.status_code == 503
    assert response.json()["database"] == "ok" and response.json()["broker"].startswith("error")


def test_healthz_is_exempt_from_the_https_redirect(settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/healthz/").status_code in (200, 503)
    assert Client().get("/accounts/login/").status_code == 301

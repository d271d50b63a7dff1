"""Accounts: sign up, log in, log out, change password; a login is needed everywhere else."""

from __future__ import annotations

import pytest
from conftest import PASSWORD
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db


def test_signing_up_creates_the_account_and_logs_it_in():
    client = Client()
    response = client.post(
        "/accounts/signup/",
        {"username": "carol", "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9"},
    )
    assert response.status_code == 302 and response["Location"] == "/upload/"
    assert get_user_model().objects.filter(username="carol").exists()
    assert client.get("/upload/").status_code == 200


def test_sign_up_with_mismatched_passwords_shows_the_error():
    response = Client().post(
        "/accounts/signup/", {"username": "dave", "password1": "a-long-pass-9x", "password2": "other"}
    )
    assert response.status_code == 200 and "didn’t match" in response.content.decode()
    assert not get_user_model().objects.filter(username="dave").exists()


def test_logging_in_and_out(alice):
    client = Client()
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/upload/"
    assert client.get("/history/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/history/").status_code == 302


def test_a_wrong_password_does_not_log_in(alice):
    response = Client().post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200 and "correct username and password" in response.content.decode()


def test_changing_the_password(alice, alice_client):
    response = alice_client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": "brand-new-secret-42", "new_password2": "brand-new-secret-42"},
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("brand-new-secret-42")


@pytest.mark.parametrize(
    "url",
    [
        "/upload/",
        "/jobs/1/",
        "/jobs/1/status.json",
        "/predictions/1/",
        "/predictions/1/audio/",
        "/history/",
        "/history.csv",
        "/accounts/password_change/",
    ],
)
def test_pages_need_a_login(url):
    response = Client().get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize(
    ("url", "shows"),
    [
        ("/accounts/signup/", ['name="username"', 'name="password1"', 'name="password2"']),
        ("/accounts/login/", ['name="username"', 'name="password"', 'href="/accounts/signup/"']),
        ("/healthz/", ['"database": "ok"']),
    ],
)
def test_sign_up_log_in_and_health_are_public(url, shows):
    response = Client().get(url)
    assert response.status_code == 200
    for text in shows:
        assert text in response.content.decode(), text


def test_signing_in_and_out_and_signing_up_each_say_so_on_the_next_page(alice):
    client = Client()
    page = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}, follow=True)
    assert "Signed in as alice." in page.content.decode()
    page = client.post("/accounts/logout/", follow=True)
    assert "You are signed out." in page.content.decode()
    page = Client().post(
        "/accounts/signup/",
        {"username": "erin", "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9"},
        follow=True,
    )
    body = page.content.decode()
    assert "Welcome, erin." in body and "Signed in as erin." not in body

"""Forgot password: the sent message's link leads to a form that sets a new password one can log in with."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.test import Client

NEW_PASSWORD = "a-brand-new-secret-99"


def test_a_forgotten_password_is_reset_through_the_emailed_link(db, mailoutbox):
    get_user_model().objects.create_user("grace", email="grace@example.org", password="forgotten-long-ago-1")
    browser = Client()
    login_page = browser.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password_reset/"' in login_page and "Forgot your password?" in login_page

    sent = browser.post("/accounts/password_reset/", {"email": "grace@example.org"}, follow=True)
    assert "Check your email" in sent.content.decode()
    (message,) = mailoutbox
    assert message.to == ["grace@example.org"] and message.subject == "Choose a new serweb password"
    assert "grace" in message.body
    link = re.search(r"https?://testserver(/accounts/reset/\S+/)", message.body).group(1)

    # Django swaps the token in the URL for a session value and redirects to a ".../set-password/" form.
    form = browser.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    done = browser.post(
        form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True
    )
    assert "Your new password is set" in done.content.decode()

    assert Client().login(username="grace", password=NEW_PASSWORD)
    assert not Client().login(username="grace", password="forgotten-long-ago-1")
    # The link works once.
    assert "This link no longer works" in Client().get(link, follow=True).content.decode()


def test_an_unknown_address_sends_nothing_and_says_the_same(db, mailoutbox):
    response = Client().post("/accounts/password_reset/", {"email": "nobody@example.org"}, follow=True)
    assert "Check your email" in response.content.decode() and mailoutbox == []


def test_signing_up_can_leave_an_email_for_resets(db):
    page = Client().get("/accounts/signup/").content.decode()
    assert 'name="email"' in page and "forget your password" in page


def test_email_goes_to_the_console_unless_a_mail_server_is_configured(monkeypatch):
    from serweb.settings import email_settings

    monkeypatch.delenv("EMAIL_HOST", raising=False)
    assert email_settings("")["host"] == ""
    url = email_settings("smtp://me%40example.org:p%2Fw@mail.example.org:587?tls=1")
    assert url == {
        "host": "mail.example.org",
        "port": 587,
        "user": "me@example.org",
        "password": "p/w",
        "tls": True,
        "ssl": False,
    }
    assert email_settings("smtps://mail.example.org")["port"] == 465
    monkeypatch.setenv("EMAIL_HOST_PASSWORD_FILE", "/dev/null")
    monkeypatch.delenv("EMAIL_HOST_PASSWORD", raising=False)
    assert email_settings("")["password"] == ""

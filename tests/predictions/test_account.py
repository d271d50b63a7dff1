"""The account page: tokens created (shown once) and revoked, the default webhook and its secret."""

from __future__ import annotations

import pytest
from django.test import Client

from predictions.models.api import ApiToken, WebhookSettings

pytestmark = pytest.mark.django_db


def test_a_token_made_on_the_account_page_is_shown_once_and_works(alice_client):
    response = alice_client.post("/account/tokens/", {"name": "laptop script"})
    assert response.status_code == 201
    raw = response.context["new_token"]
    assert raw in response.content.decode()
    assert Client().get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    page = alice_client.get("/account/").content.decode()
    assert "laptop script" in page and raw not in page and ApiToken.objects.get().prefix in page


def test_revoking_on_the_account_page(alice_client, alice, bob):
    token, raw = ApiToken.issue(bob, "bobs")
    assert alice_client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    mine, my_raw = ApiToken.issue(alice, "x")
    assert alice_client.post(f"/account/tokens/{mine.pk}/revoke/").status_code == 302
    assert Client().get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {my_raw}").status_code == 401
    assert Client().get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


def test_default_webhook_refuses_private_addresses_unless_allowed(alice_client, alice, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    for url in (
        "http://127.0.0.1:8000/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/",
        "http://[::1]/",
    ):
        response = alice_client.post("/account/webhook/", {"default_url": url})
        assert response.status_code == 400, url
        assert "serweb only calls public addresses" in response.content.decode()
    settings.WEBHOOK_ALLOW_PRIVATE = True
    assert alice_client.post("/account/webhook/", {"default_url": "http://127.0.0.1:9/hook"}).status_code == 302
    assert WebhookSettings.for_user(alice).default_url == "http://127.0.0.1:9/hook"


def test_rotating_the_signing_secret(alice_client, alice):
    before = WebhookSettings.for_user(alice).signing_secret
    assert before in alice_client.get("/account/").content.decode()
    alice_client.post("/account/webhook/secret/")
    after = WebhookSettings.for_user(alice).signing_secret
    assert after != before and after.startswith("whsec_")


def test_the_webhook_help_on_the_page_says_what_the_readme_says(alice_client):
    import html
    import re
    from pathlib import Path

    page = alice_client.get("/account/").content.decode()
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for header in ("Serweb-Event: job.finished", "Serweb-Signature: t=&lt;unix time&gt;,v1=&lt;hex&gt;"):
        assert header in page
    # The verification code a receiver copies is the README's, character for character.
    on_page = html.unescape(re.search(r"<pre><code>(.*?)</code></pre>", page, re.S).group(1)).strip()
    in_readme = re.search(r"```python\n(import hashlib, hmac, time\n.*?)```", readme, re.S).group(1).strip()
    assert on_page == in_readme
    assert "see the README" not in page


def test_password_tokens_webhook_and_deletion_are_one_account_page_under_one_menu_entry(alice_client):
    page = alice_client.get("/account/").content.decode()
    for section in ('id="password"', 'id="api-tokens"', 'id="webhook"', 'id="delete-account"'):
        assert section in page
    assert 'href="/accounts/password_change/"' in page
    # The header has one Account entry and no separate Password entry.
    header = page.split('<main id="content"', 1)[0]
    assert ">Account <" in header and ">Password<" not in header
    # The deletion form sits behind a disclosure, closed until asked for.
    assert '<details class="danger-zone" id="delete-account-details">' in page

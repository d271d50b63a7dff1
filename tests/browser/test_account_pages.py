"""The account page, job deletion and the API docs in a real browser: a token shown once and revoked,
a job deleted behind its confirmation, the account deleted with its password, a prediction whose audio
retention removed, and Swagger UI drawn from this site's own static files."""

from __future__ import annotations

import re

import pytest
import requests
from browser_steps import PASSWORD, log_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_token_is_created_shown_once_used_and_revoked(new_page, make_user, live_server, shot):
    make_user("tess")
    page = new_page()
    log_in(page, "tess")
    page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile(r"^Account")).click()
    expect(page).to_have_url(re.compile(r"/account/$"))
    page.get_by_label("Token name").fill("laptop script")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").text_content()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-token-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == token
    shot(page, "account-token-created")
    auth = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{live_server.url}/api/v1/jobs", headers=auth, timeout=30).status_code == 200
    page.goto("/account/")
    expect(page.locator("#token-table")).to_contain_text("laptop script")
    assert token not in page.content()
    page.locator("#token-table").get_by_role("button", name="Revoke").click()
    expect(page.locator("body")).to_contain_text("is revoked")
    assert requests.get(f"{live_server.url}/api/v1/jobs", headers=auth, timeout=30).status_code == 401


def test_a_job_is_deleted_behind_its_confirmation(new_page, make_user, store_prediction, fake_version, upload_root):
    user = make_user("dora")
    prediction = store_prediction(user, fake_version, name="private-call.wav")
    path = prediction.file.path
    assert path.is_file()
    page = new_page()
    log_in(page, "dora")
    page.goto(f"/jobs/{prediction.file.job_id}/")
    delete = page.get_by_role("button", name=re.compile("Delete job"))
    expect(delete).to_be_hidden()  # behind the "Delete this job…" disclosure
    page.locator("#delete-job summary").click()
    delete.click()
    expect(page).to_have_url(re.compile(r"/jobs/$"))
    expect(page.locator("body")).to_contain_text(f"Job {prediction.file.job_id} is deleted")
    assert not path.exists()
    page.goto("/history/")
    expect(page.locator("body")).not_to_contain_text("private-call.wav")


def test_the_account_is_deleted_with_its_password(new_page, make_user, store_prediction, fake_version):
    # A wrong password (a 400 page) is tested in tests/predictions/test_deletion.py.
    from django.contrib.auth import get_user_model

    user = make_user("olga")
    path = store_prediction(user, fake_version).file.path
    page = new_page()
    log_in(page, "olga")
    page.goto("/account/")
    expect(page.get_by_label("Your password")).to_be_hidden()  # behind "Delete my account…"
    page.locator("#delete-account-details summary").click()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    assert not get_user_model().objects.filter(username="olga").exists() and not path.exists()


def test_a_prediction_whose_audio_was_removed_says_so(new_page, make_user, store_prediction, fake_version, shot):
    from predictions.lifecycle import retention

    user = make_user("rita")
    prediction = store_prediction(user, fake_version, when=store_prediction.days_ago(40), windows=["sad", "angry"])
    assert retention.remove_expired_audio(days=30) == 1
    page = new_page()
    log_in(page, "rita")
    page.goto(f"/predictions/{prediction.pk}/")
    expect(page.locator("#audio-removed")).to_contain_text("removed from storage")
    expect(page.locator("#prediction-audio")).to_have_count(0)
    expect(page.locator("#probability-table")).to_contain_text(prediction.top_emotion)
    page.locator("#timeline-canvas").click()  # the timeline's click-to-play has nothing to play: no error
    shot(page, "prediction-audio-removed")


def test_the_api_docs_draw_from_local_static_files_only(new_page, live_server, shot):
    page = new_page()
    outside: list[str] = []
    page.route(
        re.compile(r"^https?://(?!localhost|127\.0\.0\.1).*"),
        lambda route: (outside.append(route.request.url), route.abort()),
    )
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .information-container")).to_contain_text("serweb API")
    expect(page.locator(".opblock-summary-path").filter(has_text="/api/v1/jobs").first).to_be_visible()
    shot(page, "api-docs")
    assert outside == []

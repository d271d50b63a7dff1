"""Issue 19 in Chromium: a forgotten password reset through the emailed link, and an admin who sees which
model is the default and the fast one and is asked before activating a model with worse figures."""

from __future__ import annotations

import re

import pytest
from browser_steps import axe_violations, log_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a-brand-new-secret-99"


def test_a_forgotten_password_is_reset_in_the_browser_through_the_emailed_link(new_page, make_user, mailoutbox, shot):
    make_user("grace", email="grace@example.org")
    page = new_page(width=375, height=812)
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("grace@example.org")
    page.get_by_role("button", name="Send the link").click()
    expect(page.locator("main")).to_contain_text("Check your email")
    assert axe_violations(page) == []
    shot(page, "reset-sent-375")
    (message,) = mailoutbox
    link = re.search(r"https?://\S+/accounts/reset/\S+/", message.body).group(0)

    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.locator("#id_new_password1").fill(NEW_PASSWORD)
    page.locator("#id_new_password2").fill(NEW_PASSWORD)
    shot(page, "reset-form-375")
    page.get_by_role("button", name="Set my password").click()
    expect(page.locator("main")).to_contain_text("Your new password is set")
    page.set_viewport_size({"width": 1366, "height": 900})
    shot(page, "reset-done-1366")
    log_in(page, "grace", NEW_PASSWORD)
    expect(page.get_by_role("link", name=re.compile("Account"))).to_be_visible()


def test_an_admin_sees_the_default_and_fast_models_and_is_asked_before_a_worse_one(
    page, make_user, tiny_bundle, tmp_path, monkeypatch, shot
):
    from mlcore.serving.smoke import build_test_bundle
    from predictions.models import ModelVersion
    from predictions.pipeline import registry

    worse = build_test_bundle(tmp_path / "worse", name="worse", seed=3, metrics={"accuracy": 0.3})
    monkeypatch.setattr(
        registry,
        "SHIPPED_BUNDLES",
        (registry.ShippedBundle(tiny_bundle, active=True), registry.ShippedBundle(worse, active=False)),
    )
    registry.register_shipped_bundles(activate=True)
    make_user("root", is_staff=True, is_superuser=True)
    log_in(page, "root")
    page.goto("/admin/predictions/modelversion/")
    listing = page.locator("#result_list")
    expect(listing.locator("tr", has_text="tiny")).to_contain_text("Default model")
    expect(listing.locator("tr", has_text="worse")).to_contain_text("Fast model")
    shot(page, "admin-models-1366")

    listing.locator("tr", has_text="worse").locator("input.action-select").check()
    page.locator("select[name=action]").select_option("activate")
    page.locator("button[name=index]").click()
    expect(page.locator("#content")).to_contain_text("Activate a model with worse figures?")
    expect(page.locator("#content")).to_contain_text("right 30% of the time")
    assert ModelVersion.objects.get(is_active=True).name == "tiny"  # nothing changed before the answer
    page.set_viewport_size({"width": 375, "height": 812})
    shot(page, "admin-activate-worse-375")
    page.get_by_role("button", name=re.compile(r"^Activate .*anyway$")).click()
    expect(page.locator(".messagelist")).to_contain_text("is now the active model")
    assert ModelVersion.objects.get(is_active=True).name == "worse"


def test_one_recording_is_renamed_given_a_note_and_deleted_from_its_page(
    page, make_user, store_prediction, fake_version, shot
):
    from predictions.models import AudioFile

    owner = make_user("sam")
    keep = store_prediction(owner, fake_version, top="sad", name="take-1.wav")
    gone = store_prediction(owner, fake_version, top="happy", name="take-2.wav")
    log_in(page, "sam")
    page.goto(f"/predictions/{gone.pk}/")
    page.locator("#id_original_name").fill("Interview with Sam")
    page.locator("#id_note").fill("Second take, noisy room.")
    page.locator("#recording-form").get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_have_text("Interview with Sam")
    expect(page.locator("#recording-note")).to_have_text("Second take, noisy room.")
    shot(page, "recording-renamed-1366")

    delete = page.get_by_role("button", name="Delete this recording for good")
    expect(delete).to_be_hidden()  # behind its disclosure
    page.locator("#delete-recording summary").click()
    delete.click()
    expect(page).to_have_url(re.compile(r"/history/"))
    expect(page.locator("body")).to_contain_text("“Interview with Sam” is deleted")
    expect(page.locator("#history-table")).to_contain_text("take-1.wav")
    expect(page.locator("#history-table")).not_to_contain_text("Interview with Sam")
    assert list(AudioFile.objects.filter(user=owner).values_list("pk", flat=True)) == [keep.file_id]

"""A long job's page offers "Tell me when it finishes"; once allowed, the browser's Notification API
announces the end while the person is elsewhere."""

from __future__ import annotations

import pytest
from browser_steps import fake_result, log_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# The browser's notifications recorded instead of shown (headless Chromium has nowhere to show them).
FAKE_NOTIFICATIONS = """
window.__notifications = [];
window.Notification = class {
  constructor(title, options) { window.__notifications.push({ title, body: (options || {}).body }); }
  static get permission() { return window.__permission || "default"; }
  static requestPermission() { window.__permission = "granted"; return Promise.resolve("granted"); }
};
"""


def test_the_browser_announces_a_job_that_finishes_while_the_page_is_open(
    new_page, make_user, fake_version, upload_root, shot
):
    from predictions.models import AudioFile, Job
    from predictions.pipeline import processing

    user = make_user("nora")
    job = Job.objects.create(user=user)
    f = AudioFile.objects.create(
        job=job, user=user, original_name="board-meeting.wav", stored_name="", status=AudioFile.Status.PROCESSING
    )
    page = new_page()
    page.add_init_script(FAKE_NOTIFICATIONS)
    log_in(page, "nora")
    page.goto(f"/jobs/{job.pk}/")
    ask = page.get_by_role("button", name="Tell me when it finishes")
    ask.click()
    expect(page.locator("#job-notify-status")).to_have_text("Your browser will tell you when this job finishes.")
    shot(page, "job-notify-asked")

    processing.save_prediction(f, fake_version, fake_result("calm"))
    page.wait_for_function("() => window.__notifications.length === 1")
    (note,) = page.evaluate("window.__notifications")
    assert note["title"] == "serweb: board-meeting.wav is finished"
    assert note["body"] == "1 of 1 files processed: 1 done. Finished."
    expect(page.locator("#job-notify")).to_be_hidden()


def test_a_finished_job_offers_no_notification(new_page, make_user, store_prediction, fake_version):
    user = make_user("otto")
    prediction = store_prediction(user, fake_version)
    page = new_page()
    page.add_init_script(FAKE_NOTIFICATIONS)
    log_in(page, "otto")
    page.goto(f"/jobs/{prediction.file.job_id}/")
    expect(page.locator("#job-files tbody tr")).to_have_count(1)
    expect(page.get_by_role("button", name="Tell me when it finishes")).to_be_hidden()

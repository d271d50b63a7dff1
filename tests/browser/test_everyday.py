"""Pages people use every day, in Chromium: the timeline's segments seek the player, phones get cards
with the result and the Details link in view, a job whose files all failed stays inside the page, "My
uploads" charts its jobs, and an axe-core scan of every page finds no serious accessibility violation."""

from __future__ import annotations

import re

import pytest
from browser_steps import axe_violations, log_in, wait_for_ink
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SCROLL_WIDTH_JS = "document.scrollingElement.scrollWidth"
WIDER_THAN_VIEWPORT_JS = """() => [...document.body.querySelectorAll('*')]
  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5)
  .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '.' + el.className).slice(0, 12)"""


def test_clicking_a_segment_plays_the_recording_from_its_start(page, make_user, fake_version, store_prediction, shot):
    user = make_user("sana")
    prediction = store_prediction(
        user,
        fake_version,
        top="angry",
        seconds=12.0,
        windows=["neutral", "neutral", "angry", "angry", "happy", "happy"],
    )
    log_in(page, "sana")
    page.goto(prediction.get_absolute_url())
    wait_for_ink(page, "timeline-canvas")
    segments = page.locator("#segments .segment")
    expect(segments).to_have_count(3)
    expect(segments.nth(1)).to_contain_text(re.compile(r"^0:04-0:08 angry 70%$"))
    page.wait_for_function("() => document.getElementById('prediction-audio').readyState >= 1")
    segments.nth(1).click()
    page.wait_for_function("() => Math.abs(document.getElementById('prediction-audio').currentTime - 4.0) < 0.5")
    segments.nth(2).focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('prediction-audio').currentTime >= 8.0")
    with page.expect_download() as info:
        page.locator("#timeline-csv").click()
    lines = open(info.value.path(), encoding="utf-8").read().splitlines()
    assert lines[0].startswith("start_s,end_s,top_emotion,neutral") and len(lines) == 7
    shot(page, "segments")


def test_phones_get_cards_with_the_result_and_details_link_in_view(
    new_page, make_user, fake_version, store_prediction, shot
):
    from predictions.models import AudioFile

    user = make_user("pia")
    prediction = store_prediction(user, fake_version, top="sad", name="a-rather-long-recording-name-from-a-phone.wav")
    AudioFile.objects.create(
        job=prediction.file.job,
        user=user,
        original_name="broken.wav",
        status=AudioFile.Status.FAILED,
        error="This is not a WAV, FLAC, OGG or MP3 recording.",
    )
    for k in range(12):
        store_prediction(user, fake_version, top="happy", name=f"take-{k}.wav")
    page = new_page(width=375, height=812)
    log_in(page, "pia")
    for name, url, link in [
        ("job", f"/jobs/{prediction.file.job_id}/", "#job-files a:has-text('Details')"),
        ("history", "/history/", f"#history-table a[href='{prediction.get_absolute_url()}']"),
        ("uploads", "/jobs/", "#jobs-table a"),
    ]:
        page.goto(url)
        if name == "job":
            expect(page.locator("#job")).to_have_attribute("data-polling", "stopped")
        assert page.evaluate(SCROLL_WIDTH_JS) <= 375, f"{name} scrolls sideways"
        details = page.locator(link).first
        expect(details).to_be_visible()
        box = details.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375, f"{name}: the link is off-screen"
        if name in ("job", "history"):
            verdict = page.locator(".file-emotion .verdict-line").first
            expect(verdict).to_be_visible()
            right = verdict.bounding_box()
            assert right["x"] + right["width"] <= 375
        shot(page, f"{name}-cards-375px")
    # 13 recordings on cards: far shorter than the 6,700 px of the table it replaces for 50 rows.
    page.goto("/history/")
    assert page.evaluate("document.scrollingElement.scrollHeight") < 13 * 200 + 1600


def test_a_job_where_every_file_failed_stays_inside_the_page(page, make_user, shot):
    from predictions.models import AudioFile, Job

    user = make_user("fay")
    job = Job.objects.create(user=user, status=Job.Status.FINISHED)
    for k in range(3):
        AudioFile.objects.create(
            job=job,
            user=user,
            original_name=f"unreadable_recording_with_a_very_long_name_number_{k}_" + "x" * 60 + ".wav",
            status=AudioFile.Status.FAILED,
            error="The file could not be decoded: it ends after 12 bytes of its declared 3,528,044 "
            "(it was probably cut off while copying). Upload the complete file again.",
        )
    log_in(page, "fay")
    page.goto(f"/jobs/{job.pk}/")
    expect(page.locator("#job")).to_have_attribute("data-polling", "stopped")
    expect(page.locator("#job-files .file-error")).to_have_count(3)
    # A failure looks like one: the notice comes before the files, and the bar is not a finished green.
    expect(page.locator("#job-failed-notice")).to_be_visible()
    expect(page.locator("#job-failed-notice")).to_contain_text("None of the 3 files could be analysed")
    expect(page.locator("#job")).to_have_class(re.compile(r"\bhas-all-failed\b"))
    assert page.evaluate(SCROLL_WIDTH_JS) <= page.viewport_size["width"], page.evaluate(WIDER_THAN_VIEWPORT_JS)
    table = page.locator("#job-files").bounding_box()
    assert table["x"] + table["width"] <= page.viewport_size["width"]
    shot(page, "all-failed")


def test_my_uploads_lists_jobs_by_name_with_a_summary_chart(page, make_user, fake_version, store_prediction, shot):
    user = make_user("umi")
    for top in ("sad", "sad", "calm"):
        store_prediction(user, fake_version, top=top, name=f"{top}-day.wav")
    log_in(page, "umi")
    page.get_by_role("link", name="My uploads").click()
    expect(page.locator("#jobs-table tbody tr")).to_have_count(3)
    expect(page.locator("#jobs-table tbody tr").first).to_contain_text("calm-day.wav")
    assert wait_for_ink(page, "jobs-summary-chart") > 200
    label = page.locator("#jobs-summary-chart").get_attribute("aria-label")
    assert label == "Top emotion of 3 recordings: calm 1, sad 2."
    shot(page, "my-uploads")


def test_no_page_has_serious_accessibility_violations(new_page, make_user, fake_version, store_prediction, shot):
    user = make_user("axel")
    prediction = store_prediction(user, fake_version, top="fearful", seconds=8.0, windows=["fearful", "sad", "sad"])
    other = store_prediction(user, fake_version, top="happy", uncertain_reason="little speech (0.6 s)")
    anonymous = new_page()
    found = {}
    for url in ("/", "/accounts/login/", "/accounts/signup/", "/accounts/password_reset/", "/no-such-page/"):
        anonymous.goto(url)
        found[url] = axe_violations(anonymous)
    page = new_page()
    log_in(page, "axel")
    for url in (
        "/upload/",
        "/jobs/",
        f"/jobs/{prediction.file.job_id}/",
        prediction.get_absolute_url(),
        f"/models/{fake_version.pk}/",
        "/history/",
        "/accounts/password_change/",
        "/account/",
        f"/compare/?p={prediction.pk}&p={other.pk}",
    ):
        page.goto(url)
        if "/predictions/" in url:
            wait_for_ink(page, "timeline-canvas")
        found[url] = axe_violations(page)
        shot(page, re.sub(r"\W+", "-", url.split("?")[0]).strip("-") or "home")
    serious = {url: v for url, v in found.items() if v}
    assert not serious, serious


def test_three_recordings_ticked_in_the_history_are_compared_overlaid(
    page, make_user, fake_version, store_prediction, shot, ink
):
    user = make_user("cole")
    made = [
        store_prediction(user, fake_version, top=top, seconds=8.0, windows=windows, name=f"{top}.wav")
        for top, windows in [
            ("sad", ["sad", "sad", "calm", "sad"]),
            ("angry", ["angry", "sad", "angry", "angry"]),
            ("calm", None),
        ]
    ]
    log_in(page, "cole")
    page.goto("/history/")
    for p in made:
        page.get_by_label(f"Compare {p.file.original_name}").check()
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_url(re.compile(r"/compare/\?"))
    expect(page.locator("#compare-list li")).to_have_count(3)
    assert wait_for_ink(page, "compare-bars") > 500
    assert wait_for_ink(page, "compare-timeline") > 300
    # The overlay starts on the top emotion of the first recording listed (the newest: calm).
    expect(page.locator("#compare-list li").first).to_contain_text("calm.wav")
    expect(page.locator("#compare-emotion")).to_have_value("calm")
    before = ink(page, "compare-timeline")
    page.locator("#compare-emotion").select_option("angry")
    expect(page.locator("#compare-timeline")).to_have_attribute(
        "aria-label", re.compile(r"^Probability of angry over time")
    )
    page.wait_for_timeout(600)
    assert ink(page, "compare-timeline") != before
    shot(page, "compare")

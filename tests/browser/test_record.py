"""Speaking to serweb: Chromium with a fake microphone that plays a WAV the test writes.  Record 4 s,
listen back, send it, the job finishes and the prediction page plays the take; in live mode the page draws
timeline points while the person is still speaking; a refused microphone gets a clear message."""

from __future__ import annotations

import re

import pytest
from browser_steps import TIMEOUT_MS, chromium, log_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Chromium whose microphone is a looped WAV of a voice (overrides conftest's `browser`)."""
    import numpy as np
    from audio_factory import voiced, write

    voice = write(
        tmp_path_factory.mktemp("mic") / "voice.wav",
        voiced(np.random.default_rng(7), seconds=6.0, sr=48000, f0=170.0),
        sr=48000,
        subtype="PCM_16",
    )
    fake_microphone = (
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={voice}",
        "--autoplay-policy=no-user-gesture-required",
    )
    with chromium(fake_microphone) as browser:
        yield browser


def test_a_person_records_4_seconds_listens_back_and_sends_the_take(active_model, page, make_user, shot):
    from predictions.models import AudioFile, Job

    make_user("mika")
    log_in(page, "mika")
    page.goto("/upload/")
    start = page.get_by_role("button", name="Record", exact=True)
    expect(start).to_be_visible()
    start.focus()
    page.keyboard.press("Enter")  # keyboard reachable
    expect(page.locator("#record")).to_have_attribute("data-state", "recording")
    page.wait_for_function("() => document.getElementById('record-level').value > 0")
    page.wait_for_timeout(4200)
    shot(page, "recording")
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#record-time")).to_have_text(re.compile(r"^0:0[4-5] recorded$"))
    preview = page.locator("#record-preview")
    expect(preview).to_be_visible()
    duration = page.evaluate(
        """() => new Promise(ok => { const a = document.getElementById('record-preview');
             if (a.readyState >= 1) ok(a.duration); else a.addEventListener('loadedmetadata', () => ok(a.duration)); })"""
    )
    assert 4.0 <= duration < 5.5
    shot(page, "recorded")
    page.get_by_role("button", name="Send recording").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    expect(page.locator("#job-progress-text")).to_contain_text("Finished")
    expect(page.locator("#job-files tr[data-status='done']")).to_have_count(1)
    job = Job.objects.get(user__username="mika")
    assert re.fullmatch(r"Recording \d{4}-\d\d-\d\d \d\d:\d\d\.wav", job.name)
    f = AudioFile.objects.get(job=job)
    assert f.content_type == "audio/wav" and 4.0 <= f.prediction.duration_s < 5.5
    page.get_by_role("link", name=re.compile("Details")).click()
    page.wait_for_function("() => document.getElementById('prediction-audio').readyState >= 1")
    page.evaluate("document.getElementById('prediction-audio').play()")
    page.wait_for_function("() => document.getElementById('prediction-audio').currentTime > 0.5")
    shot(page, "take-prediction")


def test_live_mode_draws_timeline_points_while_the_person_is_still_speaking(active_model, page, make_user, shot):
    make_user("liv")
    log_in(page, "liv")
    page.goto("/upload/")
    page.get_by_label("Show emotions while I speak (live)").check()
    page.get_by_role("button", name="Record", exact=True).click()
    # Chunks of 4 s: two analysed points while the recording is still running.
    page.wait_for_function(
        "() => document.getElementById('record-live-canvas').dataset.points >= 2", timeout=max(TIMEOUT_MS, 40_000)
    )
    expect(page.locator("#record")).to_have_attribute("data-state", "recording")
    shot(page, "live")
    page.get_by_role("button", name="Stop").click()
    from predictions.models import Job

    live = Job.objects.get(user__username="liv", name__startswith="Live: Recording ")
    assert live.files.count() >= 2


def test_a_refused_microphone_gets_a_clear_message(active_model, new_page, make_user):
    make_user("nora")
    page = new_page()
    log_in(page, "nora")
    page.goto("/upload/")
    # Deny the permission the fake UI would otherwise grant.
    page.evaluate(
        """() => { navigator.mediaDevices.getUserMedia = () =>
             Promise.reject(new DOMException('Permission denied', 'NotAllowedError')); }"""
    )
    page.get_by_role("button", name="Record", exact=True).click()
    expect(page.locator("#record-error")).to_contain_text("The browser refused the microphone")

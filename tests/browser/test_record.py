"""Speaking to serweb: Chromium with a fake microphone that plays a WAV the test writes.  Record 4 s
(through an AudioWorklet: no deprecation warning), listen back, send it, the job finishes and the
prediction page plays the take; in live mode the take is one recording whose timeline grows while the
person speaks, and after Stop the page links to it instead of offering a second Send; a refused
microphone gets a clear message."""

from __future__ import annotations

import re

import pytest
from browser_steps import TIMEOUT_MS, axe_violations, chromium, log_in
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

    console = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
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
    # Captured by the AudioWorklet module: Chromium's deprecation warning for ScriptProcessorNode never shows.
    assert not [m for m in console if "ScriptProcessor" in m or "Deprecation" in m], console
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


def test_a_live_take_is_one_recording_whose_timeline_grows_and_stop_links_to_it(
    active_model, new_page, make_user, shot
):
    from predictions.models import AudioFile, Job

    make_user("liv")
    page = new_page(width=1366, height=900)
    log_in(page, "liv")
    page.goto("/upload/")
    page.get_by_label("Show emotions while I speak (live)").check()
    page.get_by_role("button", name="Record", exact=True).click()
    # Chunks of 4 s, windows every 2 s: the timeline grows while the recording is still running.
    canvas = page.locator("#record-live-canvas")
    page.wait_for_function(
        "() => document.getElementById('record-live-canvas').dataset.points >= 1", timeout=max(TIMEOUT_MS, 40_000)
    )
    first = int(canvas.get_attribute("data-points"))
    page.wait_for_function(
        f"() => document.getElementById('record-live-canvas').dataset.points > {first}", timeout=max(TIMEOUT_MS, 40_000)
    )
    expect(page.locator("#record")).to_have_attribute("data-state", "recording")
    expect(canvas).to_have_attribute(
        "aria-label", re.compile(r"windows? analysed; latest \(\d:\d\d-\d:\d\d\): \w+ \d+%")
    )
    shot(page, "live-1366")
    job = Job.objects.get(user__username="liv")
    assert job.files.count() == 1 and job.files.get().status == AudioFile.Status.PROCESSING
    page.get_by_role("button", name="Stop").click()

    link = page.get_by_role("link", name=re.compile(r"^Open the recording \(\w+ \d+%\)$"))
    expect(link).to_be_visible(timeout=max(TIMEOUT_MS, 40_000))
    expect(page.get_by_role("button", name="Send recording")).to_be_hidden()
    # The take joins "Recent uploads" at once (this user had none: the list was hidden), linked like the button.
    recent = page.locator("#recent-uploads li").first
    expect(recent).to_contain_text("just now · Finished")
    assert recent.get_by_role("link").get_attribute("href") == link.get_attribute("href")
    assert axe_violations(page) == []
    shot(page, "live-stopped-1366")
    page.set_viewport_size({"width": 375, "height": 812})
    shot(page, "live-stopped-375")
    f = AudioFile.objects.get(job__user__username="liv")
    assert f.status == AudioFile.Status.DONE and Job.objects.filter(user__username="liv").count() == 1
    assert f.audio_s >= 8.0 and len(f.prediction.timeline) >= 3
    link.click()
    page.wait_for_url(re.compile(rf"/predictions/{f.prediction.pk}/$"))
    expect(page.locator("h1")).to_contain_text("Recording")


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

"""Constants and steps shared by the browser tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("SERWEB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous: the machine running CI may have two busy cores and TensorFlow loading in-process.
TIMEOUT_MS = int(os.environ.get("SERWEB_BROWSER_TIMEOUT_MS", "60000"))
PASSWORD = "listen-to-the-voice-42"
EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")

# JavaScript: how many pixels of a canvas differ from its most common colour (its background).  A chart
# or waveform that drew something has many; a blank or background-only canvas has none.
INK_JS = """(id) => {
  const c = document.getElementById(id);
  if (!c || !c.width || !c.height) return -1;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const freq = new Map();
  for (let i = 0; i < d.length; i += 4) {
    const key = (d[i] >> 3) << 15 | (d[i + 1] >> 3) << 10 | (d[i + 2] >> 3) << 5 | (d[i + 3] >> 3);
    freq.set(key, (freq.get(key) || 0) + 1);
  }
  let top = 0;
  for (const n of freq.values()) top = Math.max(top, n);
  return (d.length / 4) - top;
}"""


@contextmanager
def chromium(extra_args: tuple[str, ...] = ()) -> Iterator:
    """Debian's Chromium through Playwright, with ``extra_args``; skips the test when it is absent.

    Playwright's sync API keeps an event loop in this thread, so Django would refuse the test body's ORM
    calls as "async unsafe"; they are allowed only while the browser is up.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}; install Debian's `chromium` (bash scripts/system-deps.sh)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args], headless=True
            )
            yield browser
            browser.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


def probabilities_for(top: str, *, confidence: float = 0.6) -> dict[str, float]:
    rest = (1.0 - confidence) / (len(EMOTIONS) - 1)
    return {e: (confidence if e == top else rest) for e in EMOTIONS}


def fake_result(
    top: str,
    *,
    seconds: float = 2.0,
    windows: list[str] | None = None,
    uncertain_reason: str = "",
    envelope: tuple[tuple[float, float], ...] = (),
):
    """An mlcore ``Analysis`` made up: ``top`` wins overall, ``windows`` names each window's winner; with
    ``uncertain_reason`` the model doubts its verdict."""
    from analysis_factory import made_up_analysis

    return made_up_analysis(
        probabilities_for(top),
        duration_s=seconds,
        windows=[probabilities_for(t, confidence=0.7) for t in windows or [top]],
        uncertain_reason=uncertain_reason,
        envelope=envelope,
    )


def wait_for_ink(page, canvas_id: str, *, at_least: int = 200) -> int:
    """Wait until the canvas has drawn (charts animate in); returns the non-background pixel count."""
    page.wait_for_function(f"(id) => ({INK_JS})(id) >= {at_least}", arg=canvas_id, timeout=TIMEOUT_MS, polling=200)
    return page.evaluate(INK_JS, canvas_id)


def log_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def axe_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (after checking it ran)."""
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    outcome = page.evaluate(
        "async () => { const r = await axe.run(document); return {violations: r.violations, passes: r.passes.length}; }"
    )
    assert outcome["passes"] > 10, "axe-core did not run its rules"
    results = outcome["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results
        if v["impact"] in ("serious", "critical")
    ]

"""Browser tests: Playwright (sync API) driving Debian's Chromium against pytest-django's live server.

Never downloads a browser: Chromium comes from Debian (`scripts/system-deps.sh`), path overridable with
SERWEB_CHROMIUM.  Screenshots of every page go to test-artifacts/screenshots/<run timestamp>/ (git-ignored;
SERWEB_SCREENSHOT_DIR overrides) so a person can look at them after the run.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from browser_steps import INK_JS, PASSWORD, ROOT, TIMEOUT_MS, chromium, fake_result


def pytest_configure(config: pytest.Config) -> None:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path(os.environ.get("SERWEB_SCREENSHOT_DIR", ROOT / "test-artifacts" / "screenshots" / stamp))
    config.stash[_SHOTS] = folder


_SHOTS = pytest.StashKey[Path]()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    folder = config.stash.get(_SHOTS, None)
    if folder is not None and folder.is_dir() and any(folder.iterdir()):
        terminalreporter.write_line(f"browser screenshots: {folder}")


@pytest.fixture(scope="session")
def screenshot_dir(pytestconfig: pytest.Config) -> Path:
    folder = pytestconfig.stash[_SHOTS]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Chromium for one test module.  Module-scoped so Playwright's event loop (and the browser) are gone
    before the other test folders run."""
    with chromium() as browser:
        yield browser


class Shots:
    """Numbered full-page screenshots for one test: <folder>/<test>-<nn>-<name>.png."""

    def __init__(self, folder: Path, test_name: str) -> None:
        self.folder, self.prefix, self.n = folder, re.sub(r"[^\w-]+", "_", test_name), 0

    def __call__(self, page, name: str) -> Path:
        self.n += 1
        path = self.folder / f"{self.prefix}-{self.n:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shot(screenshot_dir: Path, request: pytest.FixtureRequest) -> Shots:
    return Shots(screenshot_dir, request.node.name)


@pytest.fixture
def new_page(browser, live_server, transactional_db) -> Iterator:
    """Factory for pages in fresh browser contexts (each its own cookies: one per user).

    Every page fails its test on an uncaught JavaScript error or a console error: a chart that throws
    is a broken page even when the server answered 200.
    """
    contexts, errors = [], []

    def make(*, width: int = 1280, height: int = 900, **options):
        """``options`` go to the browser context: ``has_touch=True`` for a phone, ``timezone_id`` …"""
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": width, "height": height}, accept_downloads=True, **options
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        page.on(
            "console",
            lambda msg: (
                errors.append(f"{page.url}: console.{msg.type}: {msg.text}")
                # A 404 the test provoked on purpose shows up as a console error for the resource.
                if msg.type == "error" and "status of 404" not in msg.text
                else None
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, "JavaScript errors in the browser:\n" + "\n".join(errors)


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def ink():
    """ink(page, canvas_id) -> number of non-background pixels the canvas holds."""
    return lambda page, canvas_id: page.evaluate(INK_JS, canvas_id)


# --- server-side state ---------------------------------------------------------------------------------
@pytest.fixture
def upload_root(settings, tmp_path: Path) -> Path:
    """Uploads go to a per-test folder, never the developer's var/uploads."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    settings.UPLOAD_ROOT = folder
    settings.MEDIA_ROOT = folder
    return folder


@pytest.fixture
def active_model(transactional_db, upload_root, eager_tasks, settings, tmp_path):
    """The active model version: always the shipped default bundle (`register_model --default --activate`,
    committed in mlcore/models/default), so the pages are driven with the model users get on every machine."""
    from django.core.management import call_command

    from predictions.models import ModelVersion

    settings.MODEL_ROOT = tmp_path / "models"
    call_command("register_model", "--default", "--activate")
    version = ModelVersion.active()
    assert version is not None
    return version


@pytest.fixture
def make_user(transactional_db):
    from django.contrib.auth import get_user_model

    def make(username: str, **extra):
        return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)

    return make


@pytest.fixture
def fake_version(transactional_db):
    """A model version row for predictions made up by a test (no bundle behind it)."""
    from predictions.models import ModelVersion

    return ModelVersion.objects.create(
        name="browser-test", architecture="dense", bundle_path="unused", fingerprint="f" * 64, metrics={}
    )


@pytest.fixture
def store_prediction(upload_root, rng):
    """store_prediction(user, version, top=..., when=..., seconds=..., windows=[tops]) -> Prediction.

    Goes through the platform's own save path (processing.save_prediction), with a real WAV on disk so
    the audio view can serve it: what a page in a browser plays and draws.  (tests/predictions'
    ``make_prediction`` writes the rows directly, without audio, for tests that only read them.)
    """
    from audio_factory import voiced, write
    from django.utils import timezone

    from mlcore.serving.analysis import envelope_pairs
    from predictions.models import AudioFile, Job
    from predictions.pipeline import processing

    def make(user, version, *, top="happy", when=None, seconds=2.0, windows=None, name=None, uncertain_reason=""):
        job = Job.objects.create(user=user)
        stored = f"browser-{user.pk}-{time.monotonic_ns()}.wav"
        y = voiced(rng, seconds=seconds)
        write(upload_root / stored, y)
        f = AudioFile.objects.create(
            job=job,
            user=user,
            original_name=name or f"{top}-take.wav",
            stored_name=stored,
            size=(upload_root / stored).stat().st_size,
            content_type="audio/wav",
            status=AudioFile.Status.PROCESSING,
        )
        if when is not None:
            AudioFile.objects.filter(pk=f.pk).update(created_at=when)
            f.refresh_from_db()
        result = fake_result(
            top, seconds=seconds, windows=windows, uncertain_reason=uncertain_reason, envelope=envelope_pairs(y)
        )
        return processing.save_prediction(f, version, result)

    make.now = timezone.now
    make.days_ago = lambda n: timezone.now() - timedelta(days=n)
    return make

"""Fixtures shared by every test folder: a seeded rng, the RAVDESS location, a tiny bundle, eager tasks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from bundle_factory import build_bundle

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba-cache"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config: pytest.Config) -> None:
    # Tests register the model versions they need: the shipped bundle is not auto-registered when the
    # test database is migrated or flushed (a flush re-emits post_migrate after transactional tests).
    from django.conf import settings

    settings.REGISTER_DEFAULT_MODEL = False


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261120)


@pytest.fixture(scope="session")
def ravdess_dir() -> Path:
    """RAVDESS speech folder (env SERWEB_RAVDESS_DIR); tests that need it skip when it is absent."""
    path = Path(os.environ.get("SERWEB_RAVDESS_DIR", ROOT.parent / "shared" / "data" / "ravdess-speech"))
    if not path.is_dir() or not any(path.glob("Actor_*")):
        pytest.skip(f"RAVDESS not found at {path}; set SERWEB_RAVDESS_DIR or run `python -m mlcore download`")
    return path


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A small but real bundle (Dense softmax over logmel-stats), independent of the shipped one."""
    return build_bundle(tmp_path_factory.mktemp("bundles") / "tiny", name="tiny", seed=1)


@pytest.fixture
def eager_tasks(request: pytest.FixtureRequest, settings) -> Iterator[None]:
    """Celery tasks run in-process (eager mode), in the test's thread or the live server's, whatever the
    broker setting says; nothing changes in a test that starts a real worker (``celery_worker``).

    The Celery app reads Django's settings once, so its own configuration is switched as well.
    """
    if "celery_worker" in request.fixturenames:
        yield
        return
    from serweb.celery import app

    before = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before

"""Fixtures shared by every test folder: a seeded rng, synthetic audio, the RAVDESS location."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

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

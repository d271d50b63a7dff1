"""Fixtures for the engine tests: the Whisper-base model folder CTranslate2 reads, the CREMA-D location,
and encoder caches emptied around tests that change where the encoder is found."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlcore.data import corpora
from mlcore.models import encoder


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed; run `pip install --require-hashes -r requirements-encoder.txt`")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@pytest.fixture(scope="session")
def whisper_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete CTranslate2 model folder (model.bin joined from the two installed halves, config.json,
    tokenizer.json, vocabulary.txt), as ``SERWEB_ENCODER_DIR`` or ``ctranslate2.models.Whisper`` take it."""
    first, second = (_package_data(p) for p in encoder.PACKAGES)
    out = tmp_path_factory.mktemp("whisper-base")
    with open(out / "model.bin", "wb") as joined:
        for part in (*sorted(first.glob("model.bin.part*")), *sorted(second.glob("model.bin.part*"))):
            with open(part, "rb") as f:
                shutil.copyfileobj(f, joined, 1 << 22)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(first / name, out / name)
    return out


@pytest.fixture(scope="session")
def crema_dir() -> Path:
    """CREMA-D folder (env SERWEB_CREMA_D_DIR); tests that need it skip when it is absent."""
    path = corpora.corpus_dir(corpora.CREMA_D)
    if not path.is_dir() or not any(path.rglob("10[0-9][0-9]_*")):
        pytest.skip(
            f"CREMA-D not found at {path}; set SERWEB_CREMA_D_DIR or run "
            "`python -m mlcore download DIR --corpus crema-d`"
        )
    return path


def clear_encoder_caches() -> None:
    from mlcore.features import whisper_stats

    encoder.cached_encoder_weights.cache_clear()
    whisper_stats._encoder.cache_clear()


@pytest.fixture
def fresh_encoder_caches() -> Iterator[None]:
    """Encoder weights are cached per process; a test that changes where they come from starts and ends
    with empty caches, so it sees its own setting and later tests see the real weights."""
    clear_encoder_caches()
    yield
    clear_encoder_caches()

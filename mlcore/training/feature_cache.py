"""Features of rows from several corpora (and augmented copies of training speakers' clips), cached on
disk (NumPy ``.npy``, no pickles) because every fold reuses them, with the speaker and corpus of every
row.  The RAVDESS-only trainer (``mlcore.training.ravdess``) uses the same cache."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.data.corpora import Row
from mlcore.features.registry import extractor_to_json


def default_cache_dir() -> Path:
    """Feature cache folder: ``$SERWEB_CACHE_DIR/features`` (default ``~/.cache/serweb/features``)."""
    return Path(os.environ.get("SERWEB_CACHE_DIR", Path.home() / ".cache" / "serweb")) / "features"


def _cached(cache: Path, compute: Callable[[], list[np.ndarray]]) -> list[np.ndarray]:
    if cache.exists():
        return list(np.load(cache, allow_pickle=False))
    out = compute()
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, np.stack(out), allow_pickle=False)
    os.replace(tmp, cache)
    return out


def one_thread_per_worker() -> None:
    """Process-pool initializer: one BLAS thread per worker, so workers do not fight over the cores."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _clip_features(job: tuple[str, dict[str, Any], str | None, int, str]) -> list[np.ndarray]:
    """Features of one clip and (when ``recipe``) its augmented copies, cached on disk.

    The original and the copies are cached apart, so a run with augmentation reuses the originals of
    a run without.
    """
    path, spec, recipe, seed, cache_dir = job
    from mlcore.data.audio import load_audio
    from mlcore.features.registry import REVISION, extractor_from_json

    def key(recipe: str | None) -> Path:
        parts: list[Any] = [spec, REVISION, recipe, seed, Path(path).name] + (["copy"] if recipe else [])
        digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode())
        return Path(cache_dir) / f"{digest.hexdigest()[:24]}.npy"

    extractor = extractor_from_json(spec)
    # Decoded at most once, and only when something is not cached yet.
    audio = functools.cache(lambda: load_audio(path, sr=extractor.needs.sr))

    out = _cached(key(None), lambda: [extractor(audio())])
    if recipe:
        from mlcore.data.augment import augment_step, recipe_steps

        # Each copy is cached on its own, with a generator of its own (clip, seed, transform and its
        # occurrence): the same copies whatever the fold or process order, and a recipe that adds a
        # transform reuses the copies of the one without it.
        clip_hash = int(hashlib.md5(Path(path).name.encode()).hexdigest()[:8], 16)
        seen: dict[str, int] = {}
        for step in recipe_steps(recipe):
            k = seen[step] = seen.get(step, -1) + 1
            step_hash = int(hashlib.md5(step.encode()).hexdigest()[:8], 16)
            rng = np.random.default_rng([seed, clip_hash, step_hash, k])
            out += _cached(
                key(f"{step}#{k}"),
                lambda rng=rng, step=step: [extractor(augment_step(audio(), sr=extractor.sr, rng=rng, step=step))],
            )
    return out


def corpus_weights(corpora: np.ndarray) -> np.ndarray:
    """Per-row weights that give every corpus named in ``corpora`` the same total weight (mean 1).  Shape (n,)."""
    names, inverse, counts = np.unique(corpora, return_inverse=True, return_counts=True)
    return (len(corpora) / (len(names) * counts))[inverse].astype(np.float32)


@dataclass
class CorpusFeatures:
    """Features of rows and their augmented copies: X (n, dim), labels, speakers, corpora, augmented."""

    X: np.ndarray
    y: np.ndarray
    speakers: np.ndarray
    corpora: np.ndarray
    augmented: np.ndarray

    def corpus_weights(self) -> np.ndarray:
        """Per-row weights that give every corpus the same total weight (mean 1).  Shape (n,)."""
        return corpus_weights(self.corpora)

    def centred_by_speaker(self) -> CorpusFeatures:
        """Each speaker's rows (originals and copies) moved so that their mean is the mean of all rows."""
        X = self.X.copy()
        overall = X.mean(axis=0)
        for speaker in np.unique(self.speakers):
            m = self.speakers == speaker
            X[m] += overall - X[m].mean(axis=0)
        return CorpusFeatures(X, self.y, self.speakers, self.corpora, self.augmented)

    def select(self, mask: np.ndarray) -> CorpusFeatures:
        return CorpusFeatures(self.X[mask], self.y[mask], self.speakers[mask], self.corpora[mask], self.augmented[mask])


def corpus_features(
    rows: list[Row],
    *,
    extractor: Any,
    recipe: str | None = None,
    augment_speakers: set[str] | None = None,
    seed: int = 0,
    cache_dir: Path | None = None,
    jobs: int | None = None,
    progress: bool = True,
) -> CorpusFeatures:
    """Features of ``rows``; augmented copies only for rows whose speaker is in ``augment_speakers``."""
    from tqdm import tqdm

    # An extractor with a cache superset (the encoder: every layer) is cached once and sliced.
    superset = extractor.cache_superset() if hasattr(extractor, "cache_superset") else extractor
    spec = extractor_to_json(superset)
    cache_dir = cache_dir or default_cache_dir()
    work = [
        (
            str(r.path),
            spec,
            recipe if augment_speakers and r.speaker in augment_speakers else None,
            seed,
            str(cache_dir),
        )
        for r in rows
    ]
    jobs = jobs or min(2, os.cpu_count() or 1)
    X, y, spk, corp, aug = [], [], [], [], []
    with ProcessPoolExecutor(max_workers=jobs, initializer=one_thread_per_worker) as pool:
        results = pool.map(_clip_features, work, chunksize=4)
        for row, feats in tqdm(zip(rows, results, strict=True), total=len(rows), desc="features", disable=not progress):
            for i, f in enumerate(feats):
                X.append(f)
                y.append(row.label)
                spk.append(row.speaker)
                corp.append(row.corpus)
                aug.append(i > 0)
    features = np.stack(X).astype(np.float32)
    if superset is not extractor:
        features = extractor.from_superset(features)
    return CorpusFeatures(features, np.array(y), np.array(spk), np.array(corp), np.array(aug))

"""Features of rows from several corpora (and augmented copies of training speakers' clips), cached on
disk, with the speaker and corpus of every row."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.corpora import Row
from mlcore.features import extractor_to_json
from mlcore.train import _clip_features, default_cache_dir, one_thread_per_worker


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
        names, inverse, counts = np.unique(self.corpora, return_inverse=True, return_counts=True)
        return (len(self.corpora) / (len(names) * counts))[inverse].astype(np.float32)

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

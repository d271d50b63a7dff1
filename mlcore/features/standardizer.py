"""The per-channel standardiser fitted on training data and saved in a bundle as ``scaler.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Standardizer:
    """Per-channel z-scoring over every axis but the last; fitted on the training split only."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
        std = flat.std(axis=0)
        std[std < 1e-8] = 1.0
        return cls(tuple(map(float, flat.mean(axis=0))), tuple(map(float, std)))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return ((x - np.asarray(self.mean, np.float32)) / np.asarray(self.scale, np.float32)).astype(np.float32)

    def to_json(self) -> str:
        return json.dumps({"mean": self.mean, "scale": self.scale})

    @classmethod
    def from_json(cls, text: str) -> Standardizer:
        d = json.loads(text)
        return cls(tuple(d["mean"]), tuple(d["scale"]))

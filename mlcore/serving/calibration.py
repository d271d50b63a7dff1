"""Honest confidence at serving time: the temperature and the rule that flags a judgement ``uncertain``.

Both are fitted on out-of-fold predictions (``mlcore.training.calibrate``) and saved in the bundle's
``config.json``; serving applies them with NumPy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mlcore.errors import BundleError
from mlcore.labels import ranked


def apply_temperature(probs: np.ndarray, temperature: float, bias: np.ndarray | None = None) -> np.ndarray:
    """Softmax(log p / T + b), row-wise: the same as dividing the logits by T and adding a per-class
    bias ``b`` (shape (C,); none by default).  Shape kept."""
    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, None)) / temperature
    if bias is not None:
        logp = logp + np.asarray(bias, dtype=np.float64)
    logp -= logp.max(axis=-1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class UncertaintyRule:
    """When a judgement is ``uncertain``: too little speech, a top probability under ``min_top``, or the
    first two emotions within ``min_margin`` of each other."""

    min_top: float = 0.4
    min_margin: float = 0.1
    little_speech_s: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> UncertaintyRule:
        """Read a bundle's ``uncertain_rule``; raises ``BundleError`` for unknown or non-numeric keys."""
        if not data:
            return cls()
        try:
            return cls(**{k: float(v) for k, v in data.items()})
        except (TypeError, ValueError) as e:
            raise BundleError(f"The bundle's uncertain_rule {data!r} is not valid ({e}).") from None

    def reason(self, probabilities: dict[str, float], *, speech_s: float | None) -> str:
        """Why the judgement is uncertain, or "" when it is not."""
        if speech_s is not None and speech_s < self.little_speech_s:
            return f"little speech ({speech_s:.1f} s)"
        (first, p1), (second, p2) = ranked(probabilities)[:2]
        if p1 < self.min_top:
            return f"top probability {p1:.0%} is below {self.min_top:.0%}"
        if p1 - p2 < self.min_margin:
            return f"{first} and {second} are too close to call ({p1:.0%} vs {p2:.0%})"
        return ""

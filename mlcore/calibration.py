"""Honest confidence: temperature scaling, calibration error, reliability diagrams, and the thresholds
under which a judgement is flagged ``uncertain``.

Everything here is fitted on out-of-fold predictions (speakers the model did not train on) and saved
in the bundle's ``config.json``; serving applies it with NumPy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.errors import BundleError

N_BINS = 15


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax(log p / T), row-wise: the same as dividing the logits by T.  Shape kept."""
    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, None)) / temperature
    logp -= logp.max(axis=-1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(axis=-1, keepdims=True)


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes."""
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None))))


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    """The temperature in [0.05, 20] that minimises the NLL of ``probs`` (n, C) on labels ``y``."""
    from scipy.optimize import minimize_scalar

    result = minimize_scalar(
        lambda log_t: nll(apply_temperature(probs, float(np.exp(log_t))), y),
        bounds=(np.log(0.05), np.log(20.0)),
        method="bounded",
    )
    return float(np.exp(result.x))


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, *, n_bins: int = N_BINS) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def reliability_diagram(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, *, n_bins: int = N_BINS) -> None:
    """Accuracy against confidence per bin, one line per ``name: (probs, y)``, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="#888", linestyle="--", label="perfect")
    for name, (probs, y) in curves.items():
        conf = probs.max(axis=1)
        correct = probs.argmax(axis=1) == y
        bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
        xs, ys = [], []
        for b in range(n_bins):
            m = bins == b
            if m.sum() >= 5:
                xs.append(conf[m].mean())
                ys.append(correct[m].mean())
        ece = expected_calibration_error(probs, y, n_bins=n_bins)
        ax.plot(xs, ys, marker="o", label=f"{name} (ECE {ece:.3f})")
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    ax.set_title("Reliability on held-out speakers")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


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
        ranked = sorted(probabilities.items(), key=lambda kv: kv[1], reverse=True)
        (first, p1), (second, p2) = ranked[0], ranked[1]
        if p1 < self.min_top:
            return f"top probability {p1:.0%} is below {self.min_top:.0%}"
        if p1 - p2 < self.min_margin:
            return f"{first} and {second} are too close to call ({p1:.0%} vs {p2:.0%})"
        return ""


def choose_thresholds(probs: np.ndarray, y: np.ndarray) -> tuple[UncertaintyRule, dict[str, Any]]:
    """Thresholds from held-out predictions: a judgement is uncertain where, on held-out speakers,
    judgements like it are right less than half the time.

    ``min_top`` is the lowest top probability from which held-out accuracy stays at or above 50%;
    ``min_margin`` likewise for the gap between the first two.  Returns the rule and its coverage.
    """
    conf = probs.max(axis=1)
    ranked = np.sort(probs, axis=1)
    margin = ranked[:, -1] - ranked[:, -2]
    correct = probs.argmax(axis=1) == y

    def threshold(score: np.ndarray) -> float:
        # Smallest t such that every band of 10% of held-out judgements scoring >= t is right >= half.
        order = np.argsort(score)
        s, c = score[order], correct[order].astype(float)
        band = max(20, len(s) // 10)
        for i in range(0, len(s) - band + 1, max(1, band // 4)):
            if c[i:].mean() >= 0.5 and c[i : i + band].mean() >= 0.5:
                return round(float(s[i]), 3)
        return round(float(s[-1]), 3)

    rule = UncertaintyRule(min_top=threshold(conf), min_margin=threshold(margin))
    flagged = (conf < rule.min_top) | (margin < rule.min_margin)
    report = {
        "flagged_fraction": float(flagged.mean()),
        "accuracy_flagged": float(correct[flagged].mean()) if flagged.any() else None,
        "accuracy_not_flagged": float(correct[~flagged].mean()) if (~flagged).any() else None,
    }
    return rule, report

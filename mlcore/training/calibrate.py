"""Fitting honest confidence on out-of-fold predictions: the temperature, calibration error,
reliability diagrams, and the thresholds under which a judgement is flagged ``uncertain``.

The results are saved in the bundle's ``config.json`` and applied by ``mlcore.serving.calibration``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlcore.serving.calibration import UncertaintyRule, apply_temperature

N_BINS = 15


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


def fit_temperature_and_bias(
    sets: list[tuple[np.ndarray, np.ndarray]], *, l2: float = 0.01
) -> tuple[float, np.ndarray]:
    """The temperature and per-class bias (mean zero) minimising the mean of each set's NLL (every set
    weighs the same, whatever its size), with a small L2 penalty on the bias.  ``sets`` are (probs (n, C),
    labels (n,)) pairs: predictions on held-out speakers and on held-out corpora."""
    from scipy.optimize import minimize

    n_classes = sets[0][0].shape[1]

    def loss(params: np.ndarray) -> float:
        t, b = float(np.exp(params[0])), params[1:] - params[1:].mean()
        return float(np.mean([nll(apply_temperature(p, t, b), y) for p, y in sets]) + l2 * np.sum(b**2))

    start = np.concatenate([[np.log(fit_temperature(*sets[0]))], np.zeros(n_classes)])
    result = minimize(loss, start, method="L-BFGS-B", bounds=[(np.log(0.05), np.log(20.0))] + [(-5, 5)] * n_classes)
    bias = result.x[1:] - result.x[1:].mean()
    return float(np.exp(result.x[0])), bias


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

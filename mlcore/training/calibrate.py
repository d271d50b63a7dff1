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
    sets: list[tuple[np.ndarray, np.ndarray]], *, l2: float = 0.01, with_bias: bool = True
) -> tuple[float, np.ndarray]:
    """The temperature and per-class bias (mean zero) minimising the mean of each set's NLL (every set
    weighs the same, whatever its size), with a small L2 penalty on the bias.  ``sets`` are (probs (n, C),
    labels (n,)) pairs: predictions on held-out speakers and on held-out corpora.  ``with_bias=False``
    fits the temperature alone (the bias stays zero)."""
    from scipy.optimize import minimize, minimize_scalar

    n_classes = sets[0][0].shape[1]
    if not with_bias:
        result = minimize_scalar(
            lambda log_t: float(np.mean([nll(apply_temperature(p, float(np.exp(log_t))), y) for p, y in sets])),
            bounds=(np.log(0.05), np.log(20.0)),
            method="bounded",
        )
        return float(np.exp(result.x)), np.zeros(n_classes)

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


def calibrate(
    oof: np.ndarray,
    y: np.ndarray,
    *,
    speakers: np.ndarray,
    away: list[tuple[np.ndarray, np.ndarray]] | None = None,
    out_dir: Path | None = None,
) -> dict[str, Any]:
    """Temperature, per-class bias and ``uncertain`` thresholds from held-out predictions, with their effect.

    ``oof`` are out-of-fold predictions (speakers the model never heard, corpora it did: "home");
    ``away`` the leave-one-corpus-out predictions, one (probs, labels) pair per direction (corpora it
    never heard).  Fitted on home alone the temperature makes home honest and leaves away
    over-confident; so when ``away`` is given the temperature and a per-class bias are fitted on home
    and away together (each weighing the same).  The held-out check fits on half of the home speakers
    and one direction and scores the other half and the other direction, for both recipes; the bundle
    gets the recipe with the lower mean check ECE, refitted on everything.  Every ECE is over all eight
    emotions, as a user sees them.
    """
    away = away or []
    ordered = sorted(set(speakers.tolist()))
    fit_half = np.isin(speakers, ordered[::2])
    eval_half = ~fit_half
    t_half = fit_temperature(oof[fit_half], y[fit_half])
    temperature = fit_temperature(oof, y)
    bias = np.zeros(oof.shape[1])
    check: dict[str, Any] = {
        "temperature_fitted_on_half": t_half,
        "nll_before": nll(oof[eval_half], y[eval_half]),
        "nll_after": nll(apply_temperature(oof[eval_half], t_half), y[eval_half]),
        "ece_before": expected_calibration_error(oof[eval_half], y[eval_half]),
        "ece_after": expected_calibration_error(apply_temperature(oof[eval_half], t_half), y[eval_half]),
    }
    recipe = "temperature on held-out speakers"
    if len(away) == 2:
        # Each recipe fitted on half the home speakers and one direction, scored on the other half and the
        # other direction, both ways round: ECE (all eight emotions) at home and away.
        recipes = {"temperature": False, "temperature_and_bias": True}
        for name, with_bias in recipes.items():
            scores: dict[str, list[float]] = {"home": [], "away": [], "away_accuracy": []}
            for (fit_p, fit_y), (test_p, test_y), (home_fit, home_test) in (
                (away[0], away[1], (fit_half, eval_half)),
                (away[1], away[0], (eval_half, fit_half)),
            ):
                t, b = fit_temperature_and_bias([(oof[home_fit], y[home_fit]), (fit_p, fit_y)], with_bias=with_bias)
                scores["home"].append(expected_calibration_error(apply_temperature(oof[home_test], t, b), y[home_test]))
                scores["away"].append(expected_calibration_error(apply_temperature(test_p, t, b), test_y))
                # A bias moves decisions, not only confidence: its effect on accuracy away is checked too.
                scores["away_accuracy"].append(float((apply_temperature(test_p, t, b).argmax(axis=1) == test_y).mean()))
            check[name] = {where: float(np.mean(v)) for where, v in scores.items()}
        ece = {name: (check[name]["home"] + check[name]["away"]) / 2 for name in recipes}
        with_bias = bool(
            ece["temperature_and_bias"] < ece["temperature"]
            and check["temperature_and_bias"]["away_accuracy"] >= check["temperature"]["away_accuracy"] - 0.005
        )
        recipe = "temperature" + (" and per-class bias" if with_bias else "") + " on held-out speakers and corpora"
        temperature, bias = fit_temperature_and_bias([(oof, y), *away], with_bias=with_bias)
    calibrated = apply_temperature(oof, temperature, bias)
    away_p = np.concatenate([p for p, _ in away]) if away else np.zeros((0, oof.shape[1]))
    away_y = np.concatenate([yy for _, yy in away]) if away else np.zeros(0, dtype=int)
    away_cal = apply_temperature(away_p, temperature, bias) if away else away_p
    # The uncertain thresholds are chosen where home and away judgements are both represented.
    rule, coverage = choose_thresholds(np.concatenate([calibrated, away_cal]), np.concatenate([y, away_y]))
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        curves = {"held-out speakers, raw": (oof, y), "held-out speakers, calibrated": (calibrated, y)}
        if away:
            curves |= {"held-out corpora, raw": (away_p, away_y), "held-out corpora, calibrated": (away_cal, away_y)}
        reliability_diagram(curves, out_dir / "reliability.png")
    result = {
        "recipe": recipe,
        "temperature": temperature,
        "class_bias": [round(float(v), 4) for v in bias],
        "ece_before": expected_calibration_error(oof, y),
        "ece_after": expected_calibration_error(calibrated, y),
        "nll_before": nll(oof, y),
        "nll_after": nll(calibrated, y),
        "held_out_check": check,
        "uncertain_rule": rule.to_json(),
        "uncertain_coverage": coverage,
    }
    if away:
        result |= {
            "ece_away_before": expected_calibration_error(away_p, away_y),
            "ece_away_after": expected_calibration_error(away_cal, away_y),
        }
    return result

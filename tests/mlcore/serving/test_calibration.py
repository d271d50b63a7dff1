"""Honest confidence: a temperature fitted on held-out predictions, calibration error, and the rule that
flags a judgement as uncertain."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.serving.calibration import UncertaintyRule, apply_temperature
from mlcore.training.calibrate import (
    choose_thresholds,
    expected_calibration_error,
    fit_temperature,
    fit_temperature_and_bias,
    nll,
    reliability_diagram,
)

N_CLASSES = 8
OVERCONFIDENCE = 3.0


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _held_out(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Predictions of an over-confident model: labels drawn from softmax(z), the model says softmax(3 z)."""
    z = rng.normal(0.0, 1.0, (n, N_CLASSES))
    z[np.arange(n), rng.integers(0, N_CLASSES, n)] += 1.5
    honest = _softmax(z)
    y = np.array([rng.choice(N_CLASSES, p=p) for p in honest])
    return _softmax(OVERCONFIDENCE * z), y


def _probabilities(*values: float) -> dict[str, float]:
    names = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
    rest = (1.0 - sum(values)) / (len(names) - len(values))
    return {name: (values[i] if i < len(values) else rest) for i, name in enumerate(names)}


def test_a_temperature_fitted_on_one_split_improves_nll_and_ece_on_another(rng):
    fit_probs, fit_y = _held_out(rng, 3000)
    test_probs, test_y = _held_out(rng, 3000)
    temperature = fit_temperature(fit_probs, fit_y)
    assert temperature == pytest.approx(OVERCONFIDENCE, rel=0.15)  # undoes the over-confidence
    calibrated = apply_temperature(test_probs, temperature)
    assert nll(calibrated, test_y) < nll(test_probs, test_y) - 0.1
    ece_before = expected_calibration_error(test_probs, test_y)
    ece_after = expected_calibration_error(calibrated, test_y)
    assert ece_before > 0.1  # the over-confident model is visibly off
    assert ece_after < ece_before / 3
    assert ece_after < 0.04
    # Dividing every logit by one number never changes which emotion wins.
    np.testing.assert_array_equal(calibrated.argmax(axis=1), test_probs.argmax(axis=1))


def test_a_per_class_bias_fitted_away_from_home_corrects_a_model_that_favours_one_emotion(rng):
    # "Away": the model over-answers class 5 (as the shipped one answered "fearful" for unfamiliar voices).
    probs, y = _held_out(rng, 3000)
    shifted = apply_temperature(probs, 1.0, np.where(np.arange(N_CLASSES) == 5, 2.0, 0.0))
    home, away = (probs[:1500], y[:1500]), (shifted[:1500], y[:1500])
    t, bias = fit_temperature_and_bias([home, away])
    assert bias[5] == min(bias) and bias[5] < -0.2 and abs(bias.sum()) < 1e-6  # halfway: home has no shift
    fresh = shifted[1500:], y[1500:]
    t_only = fit_temperature(*home)
    assert nll(apply_temperature(fresh[0], t, bias), fresh[1]) < nll(apply_temperature(fresh[0], t_only), fresh[1])
    assert (apply_temperature(fresh[0], t, bias).argmax(axis=1) == 5).mean() < (fresh[0].argmax(axis=1) == 5).mean()


def test_a_calibrated_model_keeps_a_temperature_near_one(rng):
    z = rng.normal(0.0, 1.5, (3000, N_CLASSES))
    probs = _softmax(z)
    y = np.array([rng.choice(N_CLASSES, p=p) for p in probs])
    assert fit_temperature(probs, y) == pytest.approx(1.0, abs=0.12)


def test_apply_temperature_keeps_distributions_and_softens_above_one(rng):
    probs = _softmax(rng.normal(0, 2, (50, N_CLASSES)))
    np.testing.assert_allclose(apply_temperature(probs, 1.0), probs, atol=1e-9)
    soft = apply_temperature(probs, 2.0)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0)
    assert np.all(soft.max(axis=1) < probs.max(axis=1))
    # A probability of exactly zero does not produce NaN.
    one_hot = np.eye(N_CLASSES)[:3]
    assert np.all(np.isfinite(apply_temperature(one_hot, 1.5)))


def test_ece_is_zero_when_confidence_equals_accuracy_and_the_gap_otherwise():
    # 10 predictions at 0.8 confidence, 8 right: calibrated.
    probs = np.tile([0.8, 0.2], (10, 1))
    y = np.array([0] * 8 + [1] * 2)
    assert expected_calibration_error(probs, y) == pytest.approx(0.0, abs=1e-12)
    # Same confidence, half right: a gap of 0.3.
    assert expected_calibration_error(probs, np.array([0] * 5 + [1] * 5)) == pytest.approx(0.3)


def test_nll_is_the_mean_negative_log_probability_of_the_truth():
    probs = np.array([[0.5, 0.5], [0.25, 0.75]])
    assert nll(probs, np.array([0, 1])) == pytest.approx(-(np.log(0.5) + np.log(0.75)) / 2)


# --- uncertain ----------------------------------------------------------------------------------


def test_a_clear_judgement_on_enough_speech_is_certain():
    assert UncertaintyRule().reason(_probabilities(0.75, 0.1), speech_s=3.0) == ""


def test_little_speech_makes_any_judgement_uncertain():
    reason = UncertaintyRule().reason(_probabilities(0.9, 0.05), speech_s=0.6)
    assert reason == "little speech (0.6 s)"


def test_a_low_top_probability_is_uncertain():
    reason = UncertaintyRule().reason(_probabilities(0.3, 0.1), speech_s=3.0)
    assert reason == "top probability 30% is below 40%"


def test_two_emotions_close_together_are_too_close_to_call():
    reason = UncertaintyRule().reason(_probabilities(0.46, 0.40), speech_s=None)
    assert reason == "neutral and calm are too close to call (46% vs 40%)"


def test_the_rule_survives_the_bundle_config_round_trip():
    rule = UncertaintyRule(min_top=0.55, min_margin=0.2, little_speech_s=1.5)
    assert UncertaintyRule.from_json(rule.to_json()) == rule
    assert UncertaintyRule.from_json(None) == UncertaintyRule()
    assert (
        UncertaintyRule.from_json({"min_top": 0.6})
        .reason(_probabilities(0.55, 0.1), speech_s=2.0)
        .startswith("top probability 55%")
    )


def test_thresholds_flag_the_judgements_that_are_usually_wrong(rng):
    probs, y = _held_out(rng, 3000)
    probs = apply_temperature(probs, fit_temperature(probs, y))
    rule, coverage = choose_thresholds(probs, y)
    assert 0.0 < rule.min_top < 1.0 and 0.0 <= rule.min_margin < 1.0
    assert 0.0 < coverage["flagged_fraction"] < 1.0
    assert coverage["accuracy_flagged"] < 0.5 <= coverage["accuracy_not_flagged"]
    # The rule the bundle carries flags the same judgements choose_thresholds counted.
    ranked = np.sort(probs, axis=1)
    flagged = (ranked[:, -1] < rule.min_top) | (ranked[:, -1] - ranked[:, -2] < rule.min_margin)
    assert flagged.mean() == pytest.approx(coverage["flagged_fraction"])


def test_reliability_diagram_is_written_as_png(rng, tmp_path):
    probs, y = _held_out(rng, 500)
    path = tmp_path / "reliability.png"
    reliability_diagram({"raw": (probs, y), "calibrated": (apply_temperature(probs, 3.0), y)}, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5000

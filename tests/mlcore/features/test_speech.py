"""The voice detector (Silero VAD on ONNX Runtime): what counts as a voice, and what is refused."""

from __future__ import annotations

import numpy as np
import pytest
from audio_factory import spoken
from nonspeech import NON_SPEECH

from mlcore.data import corpora
from mlcore.data.audio import load_audio
from mlcore.errors import EncoderError
from mlcore.features.speech import (
    MIN_SPEECH_S,
    MIN_WINDOW_SHARE,
    counted_speech,
    on_grid,
    speech_frames,
    speech_probabilities,
)
from mlcore.models import vad
from mlcore.serving.windows import window_bounds

SR = 16000
HOP = 320


def _counted_seconds(y: np.ndarray, sr: int = SR) -> float:
    """Seconds of speech that count (the predictor's rule), on 4 s windows with a 2 s hop."""
    mask = speech_frames(y, sr=sr, hop=HOP)
    bounds = window_bounds(n_samples=y.size, sr=sr, window_s=4.0, hop_s=2.0)
    return float(counted_speech(mask, bounds, hop=HOP).sum() * HOP / sr)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_the_detector_gives_one_probability_per_32_ms_frame():
    p = vad.speech_probabilities(np.zeros(SR + 1, np.float32))
    assert p.shape == (32,)  # 31.25 frames: the partial one counts
    assert np.all((p >= 0) & (p <= 1))
    assert vad.speech_probabilities(np.zeros(0, np.float32)).shape == (0,)


def test_a_long_recording_goes_in_segments_that_depend_only_on_their_own_audio(rng, monkeypatch):
    monkeypatch.setattr(vad, "SEGMENT_FRAMES", 40)  # 1.28 s segments, each after 0.64 s of lead-in
    monkeypatch.setattr(vad, "LEAD_FRAMES", 20)
    y = spoken(rng, seconds=8.0, sr=SR)
    whole = vad.speech_probabilities(y)
    assert whole.shape == (-(-y.size // vad.FRAME),)
    # Threads change nothing.
    np.testing.assert_array_equal(vad.speech_probabilities(y, threads=3), whole)
    # Other audio in the first segment (frames 0-39) changes the second, whose lead-in it is, and not
    # the third (frames 80-119, lead-in 60-79): a segment depends on its own audio and its lead-in only.
    other = y.copy()
    other[: 40 * vad.FRAME] = spoken(rng, seconds=40 * vad.FRAME / SR, sr=SR)[: 40 * vad.FRAME]
    changed = vad.speech_probabilities(other)
    assert not np.allclose(changed[40:80], whole[40:80], atol=1e-4)
    np.testing.assert_array_equal(changed[80:], whole[80:])
    # A fresh state at each segment start is no fresh start: the lead-in settles the detector.
    monkeypatch.setattr(vad, "LEAD_FRAMES", 0)
    assert not np.allclose(vad.speech_probabilities(y), whole, atol=1e-6)


@pytest.mark.parametrize("sr", [16000, 22050])
def test_speech_is_found_at_any_rate(rng, sr):
    y = spoken(rng, seconds=4.0, sr=sr)
    assert speech_frames(y, sr=sr, hop=HOP).mean() > 0.6
    assert _counted_seconds(y, sr) > 2.0


def test_at_least_24_of_25_kinds_of_non_speech_are_refused(rng):
    kinds = {name: _counted_seconds(make(SR, 4.0, rng)) for name, make in NON_SPEECH.items()}
    accepted = {k: round(s, 2) for k, s in kinds.items() if s >= MIN_SPEECH_S}
    assert len(kinds) == 25
    assert len(accepted) <= 1, f"non-speech judged as a voice: {accepted}"


def test_a_long_tone_collects_no_speech(rng):
    # Stray frames over minutes of music must not add up to "speech".
    assert _counted_seconds(NON_SPEECH["sustained organ notes"](SR, 60.0, rng)) < MIN_SPEECH_S
    assert _counted_seconds(NON_SPEECH["tone 440 Hz"](SR, 60.0, rng)) == 0.0


@pytest.mark.parametrize("background", ["notes with drums", "pink noise", "white noise"])
def test_speech_under_music_or_in_noise_at_0_db_is_still_a_voice(rng, background):
    voice = spoken(rng, seconds=4.0, sr=SR)
    noise = NON_SPEECH[background](SR, 4.0, rng)
    mix = voice + noise * _rms(voice) / _rms(noise)  # 0 dB SNR
    assert _counted_seconds(0.5 * mix / np.max(np.abs(mix))) > 2.0


def test_a_quiet_voice_under_louder_music_is_found(rng):
    voice = spoken(rng, seconds=4.0, sr=SR)
    music = NON_SPEECH["sustained organ notes"](SR, 4.0, rng)
    assert _counted_seconds(0.3 * voice / _rms(voice) * _rms(music) + music) > 1.0


def test_speech_in_a_window_with_little_of_it_does_not_count():
    mask = np.zeros(400, dtype=bool)  # 8 s of 20 ms frames, two windows of 4 s
    mask[10:14] = True  # 80 ms in the first window: a stray click
    mask[250:350] = True  # 2 s in the second
    bounds = [(0, 64000), (64000, 128000)]
    counted = counted_speech(mask, bounds, hop=HOP)
    assert not counted[:200].any() and counted[250:350].all()
    assert 4 / 200 < MIN_WINDOW_SHARE < 100 / 200


def test_probabilities_move_onto_another_frame_grid():
    probs = np.array([0.0, 1.0, 0.0], dtype=np.float32)  # 0-32, 32-64, 64-96 ms
    grid = on_grid(probs, n_samples=int(0.096 * SR), sr=SR, hop=HOP)  # 20 ms frames centred at 10, 30, 50, 70, 90 ms
    np.testing.assert_array_equal(grid, [0, 0, 1, 0, 0])


def test_a_tampered_detector_is_refused_with_the_fix():
    bad = vad.VadRef(vad.SILERO_VAD.package, vad.SILERO_VAD.version, vad.SILERO_VAD.file, "0" * 64)
    with pytest.raises(EncoderError, match="requirements-encoder.txt"):
        vad.model_path(bad)
    with pytest.raises(EncoderError, match="not installed"):
        vad.model_path(vad.VadRef("no-such-package", "1.0", "x.onnx", "0" * 64))


@pytest.mark.parametrize("corpus", [corpora.RAVDESS, corpora.CREMA_D])
def test_real_speech_of_both_corpora_is_refused_at_most_one_percent(corpus):
    root = corpora.corpus_dir(corpus)
    if not root.is_dir():
        pytest.skip(f"{corpus} not found at {root}; set {corpora.ENV_DIRS[corpus]}")
    rows = corpora.list_corpus(corpus, root)[::3]  # every third clip: every speaker, a third of the time
    refused = [r.path.name for r in rows if _counted_seconds(load_audio(r.path, sr=SR)) < MIN_SPEECH_S]
    assert len(refused) <= 0.01 * len(rows), f"{len(refused)} of {len(rows)} refused: {refused[:10]}"


def test_probabilities_are_resampled_from_other_rates(rng):
    y = spoken(rng, seconds=2.0, sr=22050)
    assert speech_probabilities(y, sr=22050).shape == (-(-2 * SR // vad.FRAME),)

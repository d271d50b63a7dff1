"""The energy speech detector: which 20 ms frames count as speech, and how many seconds of it."""

from __future__ import annotations

import numpy as np
import pytest
from audio_factory import voiced

from mlcore.features.speech import ABSOLUTE_FLOOR_DB, PRESENCE_FLOOR_DB, frame_energy_db, speech_frames, voiced_frames
from mlcore.features.whisper_stats import speech_seconds

SR = 16000
HOP = 320


def _room(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Room tone at about -70 dBFS: quiet, but not digital silence."""
    return (0.0003 * rng.standard_normal(int(seconds * SR))).astype(np.float32)


def _tone(seconds: float, *, amplitude: float = 0.3, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_frame_energy_is_dbfs_per_frame():
    energy = frame_energy_db(_tone(1.0, amplitude=1.0, hz=250.0), hop=HOP)  # 5 periods per frame
    assert energy.shape == (50,)
    np.testing.assert_allclose(energy, -3.01, atol=0.05)  # a full-scale sine has half the power of full scale
    assert frame_energy_db(np.ones(HOP + 1, np.float32), hop=HOP).shape == (2,)  # a partial frame counts


def test_a_tone_burst_in_room_tone_counts_as_its_own_length(rng):
    y = np.concatenate([_room(rng, 1.0), _tone(1.5) + _room(rng, 1.5), _room(rng, 1.0)])
    mask = speech_frames(y, hop=HOP)
    assert mask.shape == (175,)
    assert speech_seconds(y) == pytest.approx(1.5, abs=0.04)
    # The speech is where the burst is: frames 50..125.
    assert mask[52:123].all()
    assert not mask[:48].any() and not mask[127:].any()


def test_two_bursts_add_up(rng):
    y = np.concatenate(
        [_room(rng, 0.5), voiced(rng, seconds=0.6, sr=SR), _room(rng, 1.0), voiced(rng, seconds=0.8, sr=SR)]
    )
    assert speech_seconds(y) == pytest.approx(1.4, abs=0.06)


def test_room_tone_alone_is_no_speech(rng):
    assert speech_seconds(_room(rng, 3.0)) == 0.0
    assert speech_seconds(np.zeros(3 * SR, np.float32)) == 0.0


def test_a_tone_under_the_absolute_floor_is_not_speech_even_when_it_is_the_loudest_sound(rng):
    faint = 10 ** ((ABSOLUTE_FLOOR_DB - 8) / 20) * np.sqrt(2)  # 8 dB under the floor
    y = np.concatenate([_room(rng, 1.0) * 0.1, _tone(1.0, amplitude=faint)])
    assert not speech_frames(y, hop=HOP).any()


def test_sounds_far_below_the_loudest_speech_do_not_count(rng):
    # A murmur 40 dB under the main voice is background, not a second talker.
    y = np.concatenate([_tone(1.0, amplitude=0.5), _room(rng, 0.5), _tone(1.0, amplitude=0.005), _room(rng, 0.5)])
    assert speech_seconds(y) == pytest.approx(1.0, abs=0.04)


def test_an_empty_signal_has_no_frames():
    assert speech_frames(np.zeros(0, np.float32), hop=HOP).shape == (0,)


def test_a_quiet_clean_voice_counts_as_present_though_it_is_under_the_pooling_floor(rng):
    # Peaks near -45 dBFS in digital silence, as RAVDESS is recorded: clear speech, only quieter.
    voice = voiced(rng, seconds=1.5, sr=SR) * np.float32(10 ** (-45 / 20) / 0.4)
    y = np.concatenate([np.zeros(SR, np.float32), voice, np.zeros(SR, np.float32)])
    assert voiced_frames(y, hop=HOP).sum() * HOP / SR == pytest.approx(1.5, abs=0.15)
    assert speech_seconds(y) == pytest.approx(1.5, abs=0.15)
    assert speech_frames(y, hop=HOP).sum() * HOP / SR < 1.5  # the pooling floor keeps only the loudest


def test_faint_steady_hiss_is_not_a_voice_though_it_is_above_the_presence_floor(rng):
    hiss = (10 ** (-62 / 20) * rng.standard_normal(3 * SR)).astype(np.float32)  # about -62 dBFS
    assert frame_energy_db(hiss, hop=HOP).min() > PRESENCE_FLOOR_DB
    assert voiced_frames(hiss, hop=HOP).sum() == 0


def test_the_presence_mask_includes_every_pooled_frame(rng):
    y = np.concatenate([_room(rng, 1.0), _tone(1.0) + _room(rng, 1.0), _tone(0.5, amplitude=0.01)])
    pooled, present = speech_frames(y, hop=HOP), voiced_frames(y, hop=HOP)
    assert np.all(present[pooled]) and present.sum() >= pooled.sum()

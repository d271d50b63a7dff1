"""Seeded augmentation: lengths, determinism, SNR and recipes."""

from __future__ import annotations

import numpy as np
import pytest
from audio_factory import voiced

from mlcore.data.augment import (
    RECIPES,
    add_noise,
    augment,
    change_speed,
    formant_shift,
    pitch_shift,
    random_shift,
    time_stretch,
)

SR = 22050


@pytest.fixture
def speech(rng) -> np.ndarray:
    return voiced(rng, seconds=1.0, sr=SR)


def _snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    noise = noisy.astype(np.float64) - clean
    return float(10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise**2)))


def _dominant_hz(y: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return float(np.argmax(spectrum) * SR / y.size)


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 25.0])
def test_noise_is_added_at_the_requested_snr(speech, snr_db):
    noisy = add_noise(speech, rng=np.random.default_rng(1), snr_db=snr_db)
    assert noisy.shape == speech.shape and noisy.dtype == np.float32
    assert _snr_db(speech, noisy) == pytest.approx(snr_db, abs=0.5)


def test_noise_leaves_digital_silence_silent():
    silence = np.zeros(SR, dtype=np.float32)
    assert not np.any(add_noise(silence, rng=np.random.default_rng(0), snr_db=20))


def test_time_stretch_by_1_25_shortens_by_that_factor(speech):
    out = time_stretch(speech, rate=1.25)
    assert out.size == pytest.approx(speech.size / 1.25, rel=0.02)
    assert time_stretch(speech, rate=0.8).size == pytest.approx(speech.size / 0.8, rel=0.02)


def test_pitch_shift_keeps_length_and_moves_the_pitch_an_octave():
    t = np.arange(SR) / SR
    tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    up = pitch_shift(tone, sr=SR, n_steps=12)
    assert up.size == tone.size
    assert _dominant_hz(up) == pytest.approx(440, rel=0.03)


def test_change_speed_changes_both_length_and_pitch():
    t = np.arange(SR) / SR
    tone = (0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    fast = change_speed(tone, factor=1.1)
    assert fast.size == pytest.approx(SR / 1.1, abs=2)
    assert _dominant_hz(fast) == pytest.approx(330, rel=0.02)
    assert change_speed(tone, factor=0.9).size == pytest.approx(SR / 0.9, abs=2)


def _vowel(*, sr: int, pitch_hz: float, formants: tuple[float, ...]) -> np.ndarray:
    """One second of a vowel: a pulse train at ``pitch_hz`` through two-pole resonators at ``formants``."""
    from scipy.signal import lfilter

    x = np.zeros(sr)
    x[:: int(sr / pitch_hz)] = 1.0
    for hz in formants:
        r, theta = np.exp(-np.pi * 90 / sr), 2 * np.pi * hz / sr
        x = lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], x)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def _formants_hz(y: np.ndarray, sr: int) -> list[float]:
    """Resonances of a 6th-order LPC fit (three, as the vowel has), above 200 Hz, lowest first."""
    import librosa

    roots = [z for z in np.roots(librosa.lpc(y.astype(np.float64) * np.hamming(y.size), order=6)) if z.imag > 0]
    return sorted(hz for hz in np.angle(roots) * sr / (2 * np.pi) if hz > 200)


@pytest.mark.parametrize("sr", [16_000, 22_050])
@pytest.mark.parametrize("ratio", [0.87, 1.15])
def test_formant_shift_moves_the_formants_and_keeps_the_pitch_length_and_level(sr, ratio):
    import librosa

    vowel = _vowel(sr=sr, pitch_hz=120, formants=(700, 1200, 2600))
    assert _formants_hz(vowel, sr) == pytest.approx([700, 1200, 2600], rel=0.03)
    out = formant_shift(vowel, sr=sr, ratio=ratio)
    assert out.shape == vowel.shape and out.dtype == np.float32
    # Each of the three formants moves by the ratio (within 5%); an identity would fail by 13-15%.
    moved = _formants_hz(out, sr)
    assert moved == pytest.approx([700 * ratio, 1200 * ratio, 2600 * ratio], rel=0.05)
    assert float(np.median(librosa.yin(out, fmin=60, fmax=400, sr=sr))) == pytest.approx(120, rel=0.01)
    assert float(np.sqrt(np.mean(out**2))) == pytest.approx(float(np.sqrt(np.mean(vowel**2))), rel=0.02)


def test_random_shift_moves_the_signal_and_fills_with_zeros_not_wraparound():
    y = np.arange(1, 1001, dtype=np.float32)
    shifts = set()
    rng = np.random.default_rng(3)
    for _ in range(20):
        out = random_shift(y, rng=rng, max_shift_s=0.01, sr=10_000)  # at most 100 samples
        assert out.shape == y.shape and out.dtype == np.float32
        zeros = np.count_nonzero(out == 0)
        shift = zeros if out[0] == 0 else -zeros
        assert abs(shift) <= 100
        if shift >= 0:
            expected = np.r_[np.zeros(shift), y[: y.size - shift]]
        else:
            expected = np.r_[y[-shift:], np.zeros(-shift)]
        np.testing.assert_array_equal(out, expected)
        shifts.add(shift)
    assert len(shifts) > 5


def test_every_transform_returns_finite_float32(speech):
    rng = np.random.default_rng(0)
    for out in [
        add_noise(speech, rng=rng, snr_db=5),
        time_stretch(speech, rate=0.9),
        pitch_shift(speech, sr=SR, n_steps=-3),
        change_speed(speech, factor=1.05),
        random_shift(speech, rng=rng, max_shift_s=0.2, sr=SR),
        formant_shift(speech, sr=SR, ratio=1.1),
        formant_shift(np.zeros(SR, np.float32), sr=SR, ratio=0.9),
    ]:
        assert out.dtype == np.float32 and out.ndim == 1
        assert np.all(np.isfinite(out))


@pytest.mark.parametrize(("recipe", "copies"), [("cnn1d", 5), ("cnn-bilstm", 3), ("encoder-mixed2-formant", 3)])
def test_recipes_return_one_new_copy_per_transform(speech, recipe, copies):
    out = augment(speech, sr=SR, rng=np.random.default_rng(7), recipe=recipe)
    assert len(out) == copies == len(RECIPES[recipe])
    for copy in out:
        assert copy.dtype == np.float32 and np.all(np.isfinite(copy))
        assert copy.size != speech.size or not np.array_equal(copy, speech)


def test_same_seed_gives_identical_copies_and_another_seed_differs(speech):
    first = augment(speech, sr=SR, rng=np.random.default_rng(42), recipe="cnn1d")
    again = augment(speech, sr=SR, rng=np.random.default_rng(42), recipe="cnn1d")
    other = augment(speech, sr=SR, rng=np.random.default_rng(43), recipe="cnn1d")
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert all(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_augment_refuses_unknown_recipes_and_stereo(speech):
    with pytest.raises(ValueError, match="Unknown augmentation recipe 'wild'; choose one of cnn1d, cnn-bilstm"):
        augment(speech, sr=SR, rng=np.random.default_rng(0), recipe="wild")
    with pytest.raises(ValueError, match="mono"):
        augment(np.stack([speech, speech], axis=1), sr=SR, rng=np.random.default_rng(0), recipe="cnn1d")

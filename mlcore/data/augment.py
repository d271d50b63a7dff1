"""Seeded data augmentation of a mono float32 signal.

Augmented copies are only ever trained on as copies of *training speakers' clips, after the split by
speaker*: the trainers in ``mlcore.training`` (through the cached ``feature_cache``) let a copy into
a fold's training rows only when its speaker trains in that fold, and never score a copy.  A copy of
a test speaker's clip in the training set would leak that voice and sentence, and augmenting test
clips would score the model on data nobody records.  ``RECIPES`` names the transforms each architecture uses.

Every random choice comes from the ``rng`` passed in, so the same seed gives the same copies.  Outputs
are float32 and finite; ``time_stretch`` and ``change_speed`` change the length (extractors crop or
pad to their own fixed size).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Parameter ranges drawn by ``augment``; mild enough that the emotion a listener hears is unchanged.
NOISE_SNR_DB = (15.0, 30.0)
STRETCH_RATE = (0.8, 1.25)
PITCH_STEPS = (-2.0, 2.0)
SPEED_FACTOR = (0.9, 1.1)
MAX_SHIFT_S = 0.5
# Vocal-tract length: formants scaled by up to about 15% either way (roughly an adult male's tract
# against an adult female's), pitch kept.
FORMANT_RATIO = (0.87, 1.15)


def add_noise(y: np.ndarray, *, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """``y`` plus white Gaussian noise scaled so the signal-to-noise ratio is exactly ``snr_db``.

    Shape (n,) -> (n,).  A silent input has no power to be relative to and is returned unchanged.
    """
    y = _mono(y)
    signal_power = float(np.mean(np.square(y, dtype=np.float64)))
    if signal_power == 0.0:
        return y.copy()
    noise = rng.standard_normal(y.size)
    # Scale the drawn noise to its exact target power rather than trusting the expected variance.
    noise *= np.sqrt(signal_power / 10 ** (snr_db / 10) / np.mean(noise**2))
    return (y + noise).astype(np.float32)


def time_stretch(y: np.ndarray, *, rate: float) -> np.ndarray:
    """Change tempo, keep pitch (phase vocoder).  Shape (n,) -> (about n / rate,); rate > 1 is faster."""
    import librosa

    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    return _finite(librosa.effects.time_stretch(_mono(y), rate=rate))


def pitch_shift(y: np.ndarray, *, sr: int, n_steps: float) -> np.ndarray:
    """Shift pitch by ``n_steps`` semitones, keep tempo.  Shape (n,) -> (n,)."""
    import librosa

    return _finite(librosa.effects.pitch_shift(_mono(y), sr=sr, n_steps=n_steps))


def change_speed(y: np.ndarray, *, factor: float) -> np.ndarray:
    """Play ``factor`` times faster by band-limited resampling, so pitch rises with tempo (a tape/vinyl
    speed change).  Shape (n,) -> (round(n / factor),).
    """
    import soxr

    if factor <= 0:
        raise ValueError(f"factor must be positive, got {factor}")
    # Only the ratio of the two rates matters to soxr.
    return _finite(soxr.resample(_mono(y), float(factor), 1.0, quality="HQ"))


def apply_gain(y: np.ndarray, *, gain_db: float) -> np.ndarray:
    """Louder or quieter by ``gain_db`` decibels, kept within [-1, 1].  Shape (n,) -> (n,)."""
    return np.clip(_mono(y) * np.float32(10 ** (gain_db / 20)), -1.0, 1.0)


def add_reverb(y: np.ndarray, *, rng: np.random.Generator, sr: int, rt60_s: float, wet: float = 0.5) -> np.ndarray:
    """A small room: ``y`` convolved with exponentially decaying noise that falls 60 dB in ``rt60_s``,
    mixed ``wet`` with the dry signal and rescaled to the input's peak.  Shape (n,) -> (n,)."""
    from scipy.signal import fftconvolve

    y = _mono(y)
    t = np.arange(int(rt60_s * sr)) / sr
    ir = rng.standard_normal(t.size) * np.exp(-6.9 * t / rt60_s)
    ir /= np.sqrt(np.sum(ir**2))
    out = (1 - wet) * y + wet * fftconvolve(y, ir)[: y.size]
    peak = float(np.max(np.abs(out))) or 1.0
    return _finite(out * (float(np.max(np.abs(y))) / peak))


def formant_shift(y: np.ndarray, *, sr: int, ratio: float) -> np.ndarray:
    """Another vocal tract, the same voice source: the spectral envelope (formants) scaled in frequency by
    ``ratio`` while the harmonics (the pitch) and the timing stay.  Shape (n,) -> (n,).

    The envelope is each STFT frame's "true envelope": its cepstrum liftered below half the voice's
    period (from the median pitch by YIN, kept within 1-4 ms) and raised to the harmonic peaks.  It is
    read at ``f / ratio``; the fine structure left over and the phase are kept.  The output has the
    input's RMS.
    """
    import librosa

    if ratio <= 0:
        raise ValueError(f"ratio must be positive, got {ratio}")
    y = _mono(y)
    n_fft, hop = 1024 if sr > 24_000 else 512, 128 if sr > 24_000 else 64
    spec = librosa.stft(y, n_fft=n_fft, hop_length=hop)
    log_mag = np.log(np.abs(spec) + 1e-7)
    pitch_hz = float(np.median(librosa.yin(y, fmin=60, fmax=500, sr=sr, frame_length=n_fft * 2)))
    cut = int(np.clip(0.5 / pitch_hz, 0.001, 0.004) * sr)
    # The "true envelope" (Roebel and Rodet 2005): smooth, lift to the harmonic peaks, smooth again,
    # so that formant peaks are in the envelope and not left behind in the fine structure.
    target = log_mag
    for _ in range(12):
        cepstrum = np.fft.irfft(target, n=n_fft, axis=0)
        cepstrum[cut : n_fft - cut + 1] = 0.0
        envelope = np.fft.rfft(cepstrum, axis=0).real
        target = np.maximum(log_mag, envelope)
    bins = np.arange(envelope.shape[0], dtype=np.float64)
    # Bin k takes the envelope of bin k / ratio, read between bins; past the top the last bin holds.
    source = np.clip(bins / ratio, 0, bins[-1])
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, bins.size - 1)
    frac = (source - lo)[:, None]
    warped = envelope[lo] * (1 - frac) + envelope[hi] * frac
    out = librosa.istft(
        np.exp(log_mag - envelope + warped) * np.exp(1j * np.angle(spec)), hop_length=hop, length=y.size
    )
    rms_in, rms_out = float(np.sqrt(np.mean(y**2))), float(np.sqrt(np.mean(out**2)))
    return _finite(np.clip(out * (rms_in / rms_out if rms_out > 0 else 0.0), -1.0, 1.0))


def random_shift(y: np.ndarray, *, rng: np.random.Generator, max_shift_s: float, sr: int) -> np.ndarray:
    """Move the signal by a random whole number of samples in [-max_shift_s, +max_shift_s] seconds,
    filling the vacated end with zeros (no wrap-around: speech must not reappear at the other end).
    Shape (n,) -> (n,).
    """
    y = _mono(y)
    limit = min(int(round(max_shift_s * sr)), y.size)
    shift = int(rng.integers(-limit, limit + 1))
    out = np.zeros_like(y)
    if shift > 0:
        out[shift:] = y[: y.size - shift]
    elif shift < 0:
        out[:shift] = y[-shift:]
    else:
        out[:] = y
    return out


def codec_round_trip(y: np.ndarray, *, sr: int, codec: str, bitrate_k: int) -> np.ndarray:
    """``y`` encoded with ``codec`` ("mp3" or "opus") at ``bitrate_k`` kbit/s and decoded again with
    ffmpeg, as a phone, a messenger or a web page would hand it over.  Shape (n,) -> (n,)."""
    import subprocess

    args = {"mp3": ["-c:a", "libmp3lame", "-f", "mp3"], "opus": ["-c:a", "libopus", "-f", "ogg"]}[codec]
    raw = ["-f", "f32le", "-ac", "1", "-ar", str(sr)]
    quiet = ["ffmpeg", "-nostdin", "-loglevel", "error"]
    encoded = subprocess.run(
        [*quiet, *raw, "-i", "pipe:0", *args, "-b:a", f"{bitrate_k}k", "pipe:1"],
        input=_mono(y).tobytes(),
        capture_output=True,
        check=True,
    ).stdout
    decoded = subprocess.run(
        [*quiet, "-i", "pipe:0", *raw, "pipe:1"], input=encoded, capture_output=True, check=True
    ).stdout
    out = np.frombuffer(decoded, dtype=np.float32)
    # Encoders add priming samples and pad the end: keep the input's length.
    return _finite(np.pad(out[: y.size], (0, max(0, y.size - out.size))))


Step = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]

_STEPS: dict[str, Step] = {
    "noise": lambda y, sr, rng: add_noise(y, rng=rng, snr_db=float(rng.uniform(*NOISE_SNR_DB))),
    "stretch": lambda y, sr, rng: time_stretch(y, rate=float(rng.uniform(*STRETCH_RATE))),
    "pitch": lambda y, sr, rng: pitch_shift(y, sr=sr, n_steps=float(rng.uniform(*PITCH_STEPS))),
    "speed": lambda y, sr, rng: change_speed(y, factor=float(rng.uniform(*SPEED_FACTOR))),
    "shift": lambda y, sr, rng: random_shift(y, rng=rng, max_shift_s=MAX_SHIFT_S, sr=sr),
    "formant": lambda y, sr, rng: formant_shift(y, sr=sr, ratio=float(np.exp(rng.uniform(*np.log(FORMANT_RATIO))))),
    # Two-in-one copies for the encoder, whose features cost ~0.1 s of CPU per clip: a new voice in
    # noise, and a new tempo in a room at another level.
    "pitch+noise": lambda y, sr, rng: add_noise(
        pitch_shift(y, sr=sr, n_steps=float(rng.uniform(*PITCH_STEPS))), rng=rng, snr_db=float(rng.uniform(10, 30))
    ),
    "speed+room+gain": lambda y, sr, rng: apply_gain(
        add_reverb(
            change_speed(y, factor=float(rng.uniform(*SPEED_FACTOR))),
            rng=rng,
            sr=sr,
            rt60_s=float(rng.uniform(0.2, 0.7)),
        ),
        gain_db=float(rng.uniform(-12, 6)),
    ),
    # The way a user's recording reaches us: a lossy codec at a low bitrate (MP3 32-96 k, Opus 12-32 k).
    "codec": lambda y, sr, rng: (
        codec_round_trip(y, sr=sr, codec="mp3", bitrate_k=int(rng.choice([32, 48, 64, 96])))
        if rng.random() < 0.5
        else codec_round_trip(y, sr=sr, codec="opus", bitrate_k=int(rng.choice([12, 16, 24, 32])))
    ),
}

# One copy per clip, by a transform drawn per clip: a third of the extraction of three copies, the same
# variety over a corpus.
_MIXED = ("pitch+noise", "speed+room+gain", "codec")
_STEPS["mixed"] = lambda y, sr, rng: _STEPS[_MIXED[int(rng.integers(len(_MIXED)))]](y, sr, rng)

# Which transforms each original app used; each yields one copy of the original clip.
RECIPES: dict[str, tuple[str, ...]] = {
    "cnn1d": ("noise", "stretch", "pitch", "speed", "shift"),
    "cnn-bilstm": ("noise", "stretch", "pitch"),
    # serweb's stats-mlp: pitch and speed changes stand in for unseen voices (the test actors).
    "serweb": ("noise", "pitch", "pitch", "speed", "speed", "stretch"),
    # The pretrained encoder already saw many voices; two combined copies keep its (costly) feature
    # extraction affordable.
    "encoder": ("pitch+noise", "speed+room+gain"),
    # ... and a third copy through a lossy codec (issue 15's comparison, README "Results").
    "encoder-codec": ("pitch+noise", "speed+room+gain", "codec"),
    # One copy per clip, its transform drawn from the three above.
    "encoder-mixed": ("mixed",),
    # Two such copies (the first is encoder-mixed's own, so only the second is extracted anew).
    "encoder-mixed2": ("mixed", "mixed"),
    # ... and a third copy with another vocal tract (formants moved, pitch kept): issue 15's comparison.
    "encoder-mixed2-formant": ("mixed", "mixed", "formant"),
    "encoder-mixed2-formant2": ("mixed", "mixed", "formant", "formant"),
}


def recipe_steps(recipe: str) -> tuple[str, ...]:
    """The transforms of ``RECIPES[recipe]``; raises ``ValueError`` naming the known recipes."""
    try:
        return RECIPES[recipe]
    except KeyError:
        raise ValueError(f"Unknown augmentation recipe {recipe!r}; choose one of {', '.join(RECIPES)}.") from None


def augment_step(y: np.ndarray, *, sr: int, rng: np.random.Generator, step: str) -> np.ndarray:
    """One augmented copy of ``y`` by the transform named ``step``.  Shape (m,), float32."""
    return _STEPS[step](_mono(y), sr, rng)


def augment(y: np.ndarray, *, sr: int, rng: np.random.Generator, recipe: str) -> list[np.ndarray]:
    """Augmented copies of ``y`` (not including ``y``): one per transform of ``RECIPES[recipe]``, each
    applied to the original with parameters drawn from ``rng``.  Each copy has shape (m,), float32.
    """
    try:
        steps = RECIPES[recipe]
    except KeyError:
        raise ValueError(f"Unknown augmentation recipe {recipe!r}; choose one of {', '.join(RECIPES)}.") from None
    y = _mono(y)
    return [_STEPS[step](y, sr, rng) for step in steps]


def _mono(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ValueError(f"expected a mono signal of shape (n,), got {y.shape}")
    return y


def _finite(y: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(y, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)

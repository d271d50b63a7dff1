"""Decode any common audio file to mono float32 at one sample rate, and refuse bad input clearly.

libsndfile (through soundfile) reads WAV (PCM 16/24/32, float), FLAC, OGG/Vorbis and MP3; anything
else goes through audioread (ffmpeg). Every refusal is an ``AudioError`` subclass whose message tells
the person what to do.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mlcore.errors import (
    EmptyAudioError,
    SilentAudioError,
    TooLongError,
    TooShortError,
    UnreadableAudioError,
)

TARGET_SR = 22050
MIN_DURATION_S = 0.5
DEFAULT_MAX_DURATION_S = 600.0
# Peak below -60 dBFS: nothing a microphone picked up is that quiet.
SILENCE_PEAK = 10 ** (-60 / 20)
# libsndfile's frame count when the header gives no length (SF_COUNT_MAX, 2**63 - 1).
UNKNOWN_FRAMES = 2**62

Source = str | Path | BinaryIO | bytes


def load_audio(
    source: Source,
    *,
    sr: int = TARGET_SR,
    min_duration_s: float = MIN_DURATION_S,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
) -> np.ndarray:
    """Decode ``source`` to mono float32 at ``sr`` Hz.  Returns shape (n_samples,).

    Raises ``UnreadableAudioError``, ``EmptyAudioError``, ``TooShortError``, ``TooLongError`` or
    ``SilentAudioError``; the over-long check runs before the whole file is decoded.
    """
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    y, native_sr = _decode(source, max_duration_s=max_duration_s)
    y = resample(y, orig_sr=native_sr, target_sr=sr)  # the decoded array is freed here, before validating
    return validate_audio(y, sr=sr, min_duration_s=min_duration_s, max_duration_s=max_duration_s)


def validate_audio(
    y: np.ndarray,
    *,
    sr: int = TARGET_SR,
    min_duration_s: float = MIN_DURATION_S,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
) -> np.ndarray:
    """Check a mono signal is usable; returns it as contiguous float32 within [-1, 1], non-finite values
    zeroed and out-of-range samples brought back (see ``_within_full_scale``)."""
    y = np.ascontiguousarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise UnreadableAudioError(f"Expected a mono signal, got an array of shape {y.shape}.")
    check_length(y.size, sr=sr, min_duration_s=min_duration_s, max_duration_s=max_duration_s)
    if not np.all(np.isfinite(y)):
        y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    y = _within_full_scale(y)
    check_not_silent(_peak(y))
    return y


def check_length(n_samples: int, *, sr: int, min_duration_s: float, max_duration_s: float) -> None:
    """Raise ``EmptyAudioError``, ``TooShortError`` or ``TooLongError`` for ``n_samples`` at ``sr``."""
    if n_samples == 0:
        raise EmptyAudioError("The file holds no audio samples. Record again and upload the new file.")
    duration = n_samples / sr
    if duration < min_duration_s:
        raise TooShortError(
            f"The recording is {duration:.2f} s long; at least {min_duration_s:g} s of speech is needed."
        )
    if duration > max_duration_s:
        raise TooLongError(too_long_message(duration, max_duration_s))


def check_not_silent(peak: float) -> None:
    """Raise ``SilentAudioError`` when the largest absolute sample is under -60 dBFS."""
    if peak < SILENCE_PEAK:
        raise SilentAudioError(
            "The recording is silent (no sample louder than -60 dBFS). Check the microphone and record again."
        )


def _peak(y: np.ndarray) -> float:
    """The largest absolute sample, without a temporary array as large as ``y`` (an hour is 230 MB)."""
    return max(float(y.max()), -float(y.min()))


def _within_full_scale(y: np.ndarray) -> np.ndarray:
    """Float files may hold samples beyond [-1, 1]: a few corrupt ones (one sample at 1e20) are clipped,
    and a signal written at another scale (floats in int16 units) is brought back to full scale first.
    Either way every sample ends within [-1, 1], so no feature overflows to inf or NaN."""
    if _peak(y) <= 1.0:
        return y
    scale = max(1.0, float(np.percentile(np.abs(y), 99.9)))
    return np.clip(y / np.float32(scale), -1.0, 1.0).astype(np.float32)


def resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling (soxr, high quality).  Shape (n,) -> (round(n * target/orig),)."""
    if orig_sr == target_sr:
        return y.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def envelope(y: np.ndarray, *, points: int = 800) -> np.ndarray:
    """Min/max waveform envelope for drawing.  Shape (min(points, n), 2): columns min, max.  ``y`` may
    also be a ``stream.SampleFile`` (read a column at a time)."""
    n = min(points, y.size)
    edges = np.linspace(0, y.size, n + 1).astype(np.int64)
    if not isinstance(y, np.ndarray):
        columns = (y[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True))
        return np.array([(c.min(), c.max()) for c in columns], dtype=np.float32).reshape(-1, 2)
    mins = np.minimum.reduceat(y, edges[:-1])
    maxs = np.maximum.reduceat(y, edges[:-1])
    return np.stack([mins, maxs], axis=1).astype(np.float32)


def too_long_message(duration: float, max_duration_s: float) -> str:
    """What to tell someone whose recording of ``duration`` seconds is over ``max_duration_s`` (never a
    rounding that makes the length look equal to the limit)."""
    length, limit = f"{duration / 60:.1f} minutes", f"{max_duration_s / 60:g} minutes"
    if f"{duration / 60:.1f}" == f"{max_duration_s / 60:.1f}":
        # 601 s is "10.0 minutes" against a 10-minute limit: say it in seconds, precise enough to differ.
        digits = 0
        while digits < 3 and f"{duration:.{digits}f}" == f"{max_duration_s:.{digits}f}":
            digits += 1
        length, limit = f"{duration:.{digits}f} seconds", f"{max_duration_s:g} seconds ({limit})"
    return f"The recording is {length} long; the limit is {limit}. Cut it into shorter parts and upload those."


def to_mono(data: np.ndarray) -> np.ndarray:
    """Mix (n, channels) to (n,).  When the mix is far quieter than its loudest channel (channels in
    opposite phase, L = -R, cancel when averaged), the loudest channel is used instead, so a voice
    recorded with one channel inverted is heard rather than called silent."""
    if data.shape[1] == 1:
        return data[:, 0]
    mix = data.mean(axis=1)
    channel_rms = np.sqrt(np.mean(np.square(data, dtype=np.float64), axis=0))
    loudest = int(np.argmax(channel_rms))
    if channel_rms[loudest] > 0 and np.sqrt(np.mean(np.square(mix, dtype=np.float64))) < 0.1 * channel_rms[loudest]:
        return np.ascontiguousarray(data[:, loudest])
    return mix


def _decode(source: str | Path | BinaryIO, *, max_duration_s: float) -> tuple[np.ndarray, int]:
    try:
        return _decode_soundfile(source, max_duration_s=max_duration_s)
    except TooLongError:
        raise
    except Exception as sf_error:  # libsndfile cannot read it: try ffmpeg through audioread
        if not isinstance(source, (str, Path)):
            raise _unreadable(sf_error) from sf_error
        try:
            return _decode_audioread(Path(source), max_duration_s=max_duration_s)
        except TooLongError:
            raise
        except Exception as ar_error:
            raise _unreadable(ar_error) from ar_error


def _unreadable(error: Exception) -> UnreadableAudioError:
    return UnreadableAudioError(
        "The file could not be decoded as audio (it is damaged, truncated or not a sound file). "
        "Upload a WAV, FLAC, OGG or MP3 recording."
    )


def _decode_soundfile(source: str | Path | BinaryIO, *, max_duration_s: float) -> tuple[np.ndarray, int]:
    import soundfile as sf

    with sf.SoundFile(source) as f:
        native_sr = f.samplerate
        if 0 < f.frames < UNKNOWN_FRAMES:
            if f.frames / native_sr > max_duration_s:
                raise TooLongError(too_long_message(f.frames / native_sr, max_duration_s))
            data = f.read(dtype="float32", always_2d=True)
        else:  # no length in the header (FLAC or WAV written to a pipe): decode and measure
            data = _read_measured(f, max_duration_s=max_duration_s)
    if data.shape[0] == 0 and 0 < f.frames < UNKNOWN_FRAMES:
        raise UnreadableAudioError("The file header promises audio but no samples could be read.")
    return to_mono(data), native_sr


def _read_measured(f, *, max_duration_s: float) -> np.ndarray:
    blocks, n = [], 0
    for block in _blocks_of_unknown_length(f):
        blocks.append(block)
        n += block.shape[0]
        if n / f.samplerate > max_duration_s:
            raise TooLongError(too_long_message(n / f.samplerate, max_duration_s))
    return np.concatenate(blocks) if blocks else np.zeros((0, f.channels), dtype=np.float32)


def _blocks_of_unknown_length(f, frames: int = 1 << 16):
    """(frames, channels) float32 blocks of an open ``soundfile.SoundFile`` until the data ends.

    ``SoundFile.read`` seeks to its new position after every read, and libsndfile cannot seek in a
    FLAC whose header has no length, so this calls libsndfile's ``sf_readf_float`` directly.
    """
    import soundfile as sf

    out = np.empty((frames, f.channels), dtype=np.float32)
    pointer = sf._ffi.cast("float *", out.ctypes.data)
    while (got := sf._snd.sf_readf_float(f._file, pointer, frames)) > 0:
        yield out[:got].copy()


def measure_seconds(path: str | Path, *, limit_s: float) -> float:
    """Seconds of audio in a file libsndfile reads, found by decoding (for headers without a length);
    stops a block past ``limit_s``."""
    import soundfile as sf

    n = 0
    with sf.SoundFile(str(path)) as f:
        for block in _blocks_of_unknown_length(f):
            n += block.shape[0]
            if n / f.samplerate > limit_s:
                break
        return n / f.samplerate


def _decode_audioread(path: Path, *, max_duration_s: float) -> tuple[np.ndarray, int]:
    import audioread

    chunks: list[np.ndarray] = []
    n = 0
    with audioread.audio_open(str(path)) as f:
        native_sr, channels = f.samplerate, f.channels
        for buf in f:
            chunk = np.frombuffer(buf, dtype="<i2").astype(np.float32) / 32768.0
            chunks.append(chunk)
            n += chunk.size
            if n / channels / native_sr > max_duration_s:
                raise TooLongError(too_long_message(n / channels / native_sr, max_duration_s))
    if not chunks:
        return np.zeros(0, dtype=np.float32), native_sr
    data = np.concatenate(chunks)
    data = data[: data.size - data.size % channels].reshape(-1, channels)
    return to_mono(data), native_sr

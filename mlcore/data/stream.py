"""A long recording decoded block by block into a file of samples, read back by range.

``load_audio`` holds a recording whole: an hour at 16 kHz is 230 MB of float32, more than half of a
serving process's memory budget.  ``decode_to_file`` gives the same samples (the same mono mix, the same
soxr resampling in a stream, the same checks and the same messages) without ever holding them: blocks
are decoded, mixed, resampled and written as they come.  ``SampleFile`` then reads ranges of the file
(``samples[a:b]`` is an array of those samples only), so a process that judges one part of an hour, or
runs the voice detector a minute at a time, holds a minute, not the hour; processes on one machine share
the file instead of each decoding the recording again.

What libsndfile cannot read (decoded by ffmpeg through audioread) and float files whose samples go
beyond full scale (rescaled as a whole, ``audio._within_full_scale``) are decoded in memory as before,
then written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mlcore.data import audio
from mlcore.errors import TooLongError, UnreadableAudioError

BLOCK_FRAMES = 1 << 16
_ITEM = np.dtype(np.float32).itemsize


class SampleFile:
    """Mono float32 samples in a raw file, sliced like a 1-D array: ``samples[a:b]`` reads only those."""

    ndim = 1
    dtype = np.dtype(np.float32)

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.size = self.path.stat().st_size // _ITEM
        self.shape = (self.size,)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError("a SampleFile is read by slices of samples")
        start, stop, step = key.indices(self.size)
        if step != 1:
            raise ValueError("a SampleFile is read by contiguous ranges")
        count = max(0, stop - start)
        return np.fromfile(self.path, dtype=np.float32, count=count, offset=start * _ITEM)


def header_seconds(path: str | Path) -> float | None:
    """The length a file's header gives, in seconds, or None (no length given, or not read by libsndfile)."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:
        return None
    return info.frames / info.samplerate if 0 < info.frames < audio.UNKNOWN_FRAMES else None


def decode_to_file(
    source: str | Path,
    out: str | Path,
    *,
    sr: int,
    min_duration_s: float = audio.MIN_DURATION_S,
    max_duration_s: float = audio.DEFAULT_MAX_DURATION_S,
) -> SampleFile:
    """Decode ``source`` into ``out`` as ``load_audio`` would decode it (equal samples), block by block.
    ``out`` appears whole or not at all (written beside it, then renamed).  Raises what ``load_audio``
    raises."""
    out = Path(out)
    staged = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        peak = _write_stream(Path(source), staged, sr=sr, max_duration_s=max_duration_s)
        if peak is None or peak > 1.0:  # decoded in memory: ffmpeg's formats, or samples past full scale
            y = audio.load_audio(source, sr=sr, min_duration_s=min_duration_s, max_duration_s=max_duration_s)
            y.tofile(staged)
        else:
            limits = {"min_duration_s": min_duration_s, "max_duration_s": max_duration_s}
            audio.check_length(SampleFile(staged).size, sr=sr, **limits)
            audio.check_not_silent(peak)
        os.replace(staged, out)
    finally:
        staged.unlink(missing_ok=True)
    return SampleFile(out)


def _write_stream(source: Path, staged: Path, *, sr: int, max_duration_s: float) -> float | None:
    """Decode, mix, resample and write block by block; the peak of what was written, or None when
    libsndfile cannot read the file (the caller decodes it in memory)."""
    import soundfile as sf
    import soxr

    try:
        f = sf.SoundFile(str(source))
    except Exception:
        return None
    with f, open(staged, "wb") as sink:
        native_sr = f.samplerate
        known = 0 < f.frames < audio.UNKNOWN_FRAMES
        if known and f.frames / native_sr > max_duration_s:
            raise TooLongError(audio.too_long_message(f.frames / native_sr, max_duration_s))
        if f.channels > 1 and not known:
            return None  # the mix rule needs a first pass, and this file cannot be read twice
        loudest = _loudest_channel(f) if f.channels > 1 else None
        stream = soxr.ResampleStream(native_sr, sr, 1, dtype="float32", quality="HQ") if native_sr != sr else None
        peak, n = 0.0, 0
        try:
            # libsndfile read straight through: SoundFile.read/blocks seek after each block, and a seek in
            # an MP3 is approximate (the blocks then differ from one whole read).
            for data, last in _with_last(audio._blocks_of_unknown_length(f, BLOCK_FRAMES)):
                n += data.shape[0]
                if n / native_sr > max_duration_s:
                    raise TooLongError(audio.too_long_message(n / native_sr, max_duration_s))
                mono = np.ascontiguousarray(data[:, loudest] if loudest is not None else audio.to_mono(data))
                y = stream.resample_chunk(mono, last=last) if stream is not None else mono
                y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False)
                if y.size:
                    peak = max(peak, float(y.max()), -float(y.min()))
                    y.tofile(sink)
        except (TooLongError, UnreadableAudioError):
            raise
        except Exception as e:
            raise audio._unreadable(e) from e
        if known and n == 0:
            raise UnreadableAudioError("The file header promises audio but no samples could be read.")
    return peak


def _with_last(blocks: Iterator[np.ndarray]) -> Iterator[tuple[np.ndarray, bool]]:
    """Each block with whether it is the last (the resampler flushes its tail on the last)."""
    previous = None
    for block in blocks:
        if previous is not None:
            yield previous, False
        previous = block
    yield (previous if previous is not None else np.zeros((0, 1), np.float32)), True


def _loudest_channel(f) -> int | None:
    """``audio.to_mono``'s rule over the whole file, in a first pass: the loudest channel when the mix
    is far quieter than it (channels in opposite phase), else None (the mix)."""
    sums = np.zeros(f.channels)
    mix_sum, count = 0.0, 0
    for data in audio._blocks_of_unknown_length(f, BLOCK_FRAMES):
        sums += np.square(data, dtype=np.float64).sum(axis=0)
        mix_sum += float(np.square(data.mean(axis=1), dtype=np.float64).sum())
        count += data.shape[0]
    f.seek(0)
    if count == 0:
        return None
    rms = np.sqrt(sums / count)
    loudest = int(np.argmax(rms))
    return loudest if rms[loudest] > 0 and np.sqrt(mix_sum / count) < 0.1 * rms[loudest] else None

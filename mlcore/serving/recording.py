"""A recording as a predictor hears it, held in memory or in a file of samples, and which sources are
long enough to be decoded into such a file rather than held whole."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlcore.data.stream import SampleFile, header_seconds

# A file longer than this (by its header) is decoded into a temporary file of samples and read by range,
# never held whole (an hour at 16 kHz is 230 MB); shorter ones are decoded in memory.
STREAM_OVER_S = 90.0


@dataclass(frozen=True, eq=False)
class Recording:
    """A recording as a predictor hears it, decoded and checked (``Predictor.decode``): a process that
    judges several parts of one recording decodes it once and hands each part this, not checked again
    (checking an hour again for each of its 60 parts cost a sixth of the work)."""

    samples: np.ndarray | SampleFile  # mono float32 at ``sr``, within [-1, 1]; in memory or in a file
    sr: int

    @classmethod
    def from_file(cls, path: str | Path, sr: int) -> Recording:
        """The recording a ``Predictor.decode(..., into=path)`` wrote, at ``sr`` Hz."""
        return cls(SampleFile(path), sr)


def long_file(source: object) -> bool:
    """A file path whose header says it is longer than ``STREAM_OVER_S`` (or gives no length)."""
    if not isinstance(source, (str, Path)):
        return False
    seconds = header_seconds(source)
    return seconds is None or seconds > STREAM_OVER_S

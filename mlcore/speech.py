"""Which parts of a recording are speech: an energy detector on 20 ms frames.

Frames within ``RELATIVE_DB`` of the recording's loud frames (its 95th percentile, so one click does
not set the reference) and above an absolute floor count as speech.  Only those frames vote for an
emotion, and a recording with less than ``MIN_SPEECH_S`` of them gets "no speech detected".
"""

from __future__ import annotations

import numpy as np

RELATIVE_DB = 30.0
# -55 dBFS: quieter than any voice a microphone picks up at a normal distance.
ABSOLUTE_FLOOR_DB = -55.0
MIN_SPEECH_S = 0.3
LITTLE_SPEECH_S = 1.0


def frame_energy_db(y: np.ndarray, *, hop: int) -> np.ndarray:
    """Mean power in dBFS of each ``hop``-sample frame (the last one zero-padded).  Shape (ceil(n / hop),)."""
    n = -(-y.size // hop)
    padded = np.zeros(n * hop, dtype=np.float32)
    padded[: y.size] = y
    power = np.mean(np.square(padded.reshape(n, hop), dtype=np.float64), axis=1)
    return 10 * np.log10(power + 1e-12)


def speech_frames(y: np.ndarray, *, hop: int) -> np.ndarray:
    """Boolean speech mask over ``hop``-sample frames of ``y``.  Shape (ceil(n / hop),)."""
    energy = frame_energy_db(y, hop=hop)
    if energy.size == 0:
        return np.zeros(0, dtype=bool)
    reference = float(np.percentile(energy, 95))
    return energy >= max(reference - RELATIVE_DB, ABSOLUTE_FLOOR_DB)

"""Which parts of a recording are speech: energy detectors on 20 ms frames.

- ``speech_frames``: the frames the encoder features pool over (what the shipped head was trained
  with): within ``RELATIVE_DB`` of the recording's loud frames (its 95th percentile, so one click does
  not set the reference) and above ``ABSOLUTE_FLOOR_DB``.
- ``voiced_frames``: whether there is a voice at all, and how much of it: the frames above, and also
  quieter frames within ``RELATIVE_DB`` of the loud ones that stand ``ABOVE_NOISE_DB`` above the
  recording's own noise floor (its 10th percentile) and above ``PRESENCE_FLOOR_DB``, so a quiet but
  clean recording (RAVDESS peaks near -41 dBFS) still counts, and faint steady hiss does not.  Its seconds
  decide "no speech detected" (under ``MIN_SPEECH_S``) and "little speech" (under ``LITTLE_SPEECH_S``),
  and its share of each timeline window is that window's vote.

Neither tells speech from music or singing: such a recording is judged, usually as ``uncertain``.
"""

from __future__ import annotations

import numpy as np

RELATIVE_DB = 30.0
# -55 dBFS: the pooled frames are the clearly voiced ones.
ABSOLUTE_FLOOR_DB = -55.0
# Presence: a voice stands this far above the recording's own noise floor ...
ABOVE_NOISE_DB = 10.0
NOISE_PERCENTILE = 10
# ... and above this level, under which nothing is audible.
PRESENCE_FLOOR_DB = -70.0
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


def voiced_frames(y: np.ndarray, *, hop: int) -> np.ndarray:
    """Boolean voice-presence mask over ``hop``-sample frames of ``y`` (see the module docstring).
    Shape (ceil(n / hop),)."""
    energy = frame_energy_db(y, hop=hop)
    if energy.size == 0:
        return np.zeros(0, dtype=bool)
    loud, noise = np.percentile(energy, [95, NOISE_PERCENTILE])
    clear = energy >= max(float(loud) - RELATIVE_DB, ABSOLUTE_FLOOR_DB)
    quiet_voice = energy >= max(float(loud) - RELATIVE_DB, float(noise) + ABOVE_NOISE_DB, PRESENCE_FLOOR_DB)
    return clear | quiet_voice

"""The pretrained voice detector: Silero VAD (MIT licence), run by ONNX Runtime.

Its weights are a dependency, never committed: the ``silero-vad`` package on PyPI ships its ONNX models
as data files and is installed with ``--no-deps --require-hashes`` from ``requirements-encoder.txt``.  The
package itself is never imported (its ``__init__`` imports torch, which serving must not need): the model
file is found through the package's installed metadata and its sha256 checked before it is loaded.

The model is the *sequence* export: one call takes every 32 ms frame of a recording (512 new samples at
16 kHz, with the 64 samples before them as context) and runs the detector's LSTM over all of them, so a
4 s clip costs one call (a few ms) instead of 125.  A recording over a minute is cut into one-minute
segments, each run from a fresh LSTM state after the four seconds of audio before it (whose outputs are
dropped): memory stays bounded, and a segment's probabilities depend only on its own audio and that
lead-in, so segments can run at once on several threads (ONNX Runtime releases the GIL) and any process
that holds the audio gets the same answer for any part of it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlcore.errors import EncoderError

SR = 16000
FRAME = 512  # samples per decision: 32 ms
CONTEXT = 64  # samples of the previous frame the model sees with each frame
FRAME_S = FRAME / SR
# Frames per model call on long recordings (60 s), each call from a fresh state after LEAD_FRAMES frames
# (4 s) of the audio before it: it then agrees with a pass that carried the state from the start on 99.5%
# of frames (13 minutes of RAVDESS and CREMA-D clips end to end).
SEGMENT_FRAMES = 1875
LEAD_FRAMES = 125
# Frames per ``session.run`` inside a segment, the LSTM state carried from one to the next (the same
# probabilities as one call): a whole minute in one call held 80 MB of intermediate buffers per thread.
CALL_FRAMES = 250
INSTALL_HINT = "install it with `pip install --no-deps --require-hashes -r requirements-encoder.txt` (what `make` does)"


@dataclass(frozen=True)
class VadRef:
    """Where the detector's weights come from and what they must hash to."""

    package: str
    version: str
    file: str
    sha256: str


SILERO_VAD = VadRef(
    package="silero-vad",
    version="6.2.3",
    file="silero_vad/data/silero_vad_16k_sequence.onnx",
    sha256="9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85",
)


def model_path(ref: VadRef = SILERO_VAD) -> Path:
    """The verified model file; raises ``EncoderError`` (a ``BundleError``) saying how to install it."""
    try:
        dist = importlib.metadata.distribution(ref.package)
    except importlib.metadata.PackageNotFoundError:
        raise EncoderError(
            f"The voice detector ({ref.package} {ref.version}) is not installed: {INSTALL_HINT}."
        ) from None
    if dist.version != ref.version:
        raise EncoderError(
            f"The voice detector is {ref.package} {dist.version}, serweb needs {ref.version}: {INSTALL_HINT}."
        )
    path = Path(str(dist.locate_file(ref.file)))
    if not path.is_file():
        raise EncoderError(f"The voice detector's model {ref.file} is missing: {INSTALL_HINT}.")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != ref.sha256:
        raise EncoderError(
            f"The voice detector's model {path} has sha256 {digest[:12]}…, not {ref.sha256[:12]}…: {INSTALL_HINT}."
        )
    return path


@functools.lru_cache(maxsize=1)
def _session():  # -> onnxruntime.InferenceSession
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One thread: a worker process per core is the throughput setting, and the model is tiny.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    # Without the arena a minute's buffers go back after each call (an hour's survey kept 100 MB).
    options.enable_cpu_mem_arena = False
    return ort.InferenceSession(str(model_path()), options, providers=["CPUExecutionProvider"])


def load() -> None:
    """Verify and load the detector now (raises ``EncoderError`` with install instructions)."""
    _session()


def speech_probabilities(y: np.ndarray, *, threads: int = 1) -> np.ndarray:
    """Probability of speech in each 32 ms frame of ``y`` (mono float32 at 16 kHz; the last frame
    zero-padded), one-minute segments on up to ``threads`` threads.  Shape (ceil(n / 512),), float32 in
    [0, 1].  ``y`` may also be sliced like an array without being one (``mlcore.data.stream.SampleFile``,
    a recording in a file): each segment then reads only its own samples."""
    if isinstance(y, np.ndarray) or not hasattr(y, "size"):
        y = np.asarray(y, dtype=np.float32).reshape(-1)
    n = -(-y.size // FRAME)
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    session = _session()

    def segment(start: int) -> np.ndarray:
        lead, stop = max(0, start - LEAD_FRAMES), min(n, start + SEGMENT_FRAMES)
        # Frame k is samples [k*512 - 64, (k+1)*512) of the recording, zeros outside it; only this
        # segment's samples are copied (an hour is 230 MB).
        first = lead * FRAME - CONTEXT
        padded = np.zeros(CONTEXT + (stop - lead) * FRAME, dtype=np.float32)
        src = y[max(first, 0) : stop * FRAME]
        padded[max(first, 0) - first : max(first, 0) - first + src.size] = src
        frames = np.lib.stride_tricks.sliding_window_view(padded, CONTEXT + FRAME)[::FRAME]
        h = c = np.zeros((1, 1, 128), dtype=np.float32)
        out = []
        for i in range(0, len(frames), CALL_FRAMES):  # the state carried over: equal to one call
            probs, h, c = session.run(
                None, {"input": np.ascontiguousarray(frames[i : i + CALL_FRAMES]), "h": h, "c": c}
            )
            out.append(np.asarray(probs, dtype=np.float32).reshape(-1))
        return np.concatenate(out)[start - lead :]

    starts = range(0, n, SEGMENT_FRAMES)
    if threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=min(threads, len(starts))) as pool:
            out = list(pool.map(segment, starts))
    else:
        out = [segment(start) for start in starts]
    return np.clip(np.concatenate(out), 0.0, 1.0)

"""The pretrained voice detector: Silero VAD (MIT licence), run by ONNX Runtime.

Its weights are a dependency, never committed: the ``silero-vad`` package on PyPI ships its ONNX models
as data files and is installed with ``--no-deps --require-hashes`` from ``requirements-encoder.txt``.  The
package itself is never imported (its ``__init__`` imports torch, which serving must not need): the model
file is found through the package's installed metadata and its sha256 checked before it is loaded.

The model is the *sequence* export: one call takes every 32 ms frame of a recording (512 new samples at
16 kHz, with the 64 samples before them as context) and runs the detector's LSTM over all of them, so a
4 s clip costs one call (a few ms) instead of 125.  Long recordings go in chunks that carry the LSTM
state, so memory stays bounded.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlcore.errors import EncoderError

SR = 16000
FRAME = 512  # samples per decision: 32 ms
CONTEXT = 64  # samples of the previous frame the model sees with each frame
FRAME_S = FRAME / SR
# Frames per model call on long recordings (about 60 s): bounded memory, state carried between calls.
CHUNK_FRAMES = 1875
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
    return ort.InferenceSession(str(model_path()), options, providers=["CPUExecutionProvider"])


def load() -> None:
    """Verify and load the detector now (raises ``EncoderError`` with install instructions)."""
    _session()


def speech_probabilities(y: np.ndarray) -> np.ndarray:
    """Probability of speech in each 32 ms frame of ``y`` (mono float32 at 16 kHz; the last frame
    zero-padded).  Shape (ceil(n / 512),), float32 in [0, 1]."""
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    n = -(-y.size // FRAME)
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    padded = np.zeros(CONTEXT + n * FRAME, dtype=np.float32)
    padded[CONTEXT : CONTEXT + y.size] = y
    # Frame k is samples [k*512 - 64, (k+1)*512) of the recording: a strided view, no copy.
    frames = np.lib.stride_tricks.sliding_window_view(padded, CONTEXT + FRAME)[::FRAME][:n]
    session = _session()
    h = np.zeros((1, 1, 128), dtype=np.float32)
    c = np.zeros((1, 1, 128), dtype=np.float32)
    out = []
    for start in range(0, n, CHUNK_FRAMES):
        chunk = np.ascontiguousarray(frames[start : start + CHUNK_FRAMES])
        probs, h, c = session.run(None, {"input": chunk, "h": h, "c": c})
        out.append(np.asarray(probs, dtype=np.float32).reshape(-1))
    return np.clip(np.concatenate(out), 0.0, 1.0)

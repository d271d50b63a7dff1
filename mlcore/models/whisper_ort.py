"""Whisper-base's encoder served by ONNX Runtime: the graph cached on disk, single-threaded sessions, batches.

The graph (``mlcore.models.whisper_onnx``) is built from the verified weights at first use and written
to the cache folder as ``.onnx`` (the operators) and ``.onnx.data`` (the weights, which ONNX Runtime maps
instead of copying: 85 MB less peak memory than a session made from bytes), with a sidecar
(``.onnx.sha256.json``) holding the sha256 of both and of the encoder's ``model.bin``; a graph whose
files, weights, layer count or builder version do not match its sidecar is rebuilt.  A process that
finds a valid graph never reads the 145 MB ``model.bin`` (it only checks that the encoder is installed,
at the right size): the sidecar's sha256 prove it is the graph built from the verified weights.  Only
fp32: the features equal the NumPy reference's (``mlcore.models.whisper``, the test oracle) to float32
rounding.

Cache folder: ``$SERWEB_ENCODER_CACHE``, else ``$SERWEB_CACHE_DIR/encoder`` (default ``~/.cache/serweb/encoder``).
Threads: ``$SERWEB_ORT_THREADS`` per session (default 1: one worker process per core, each session on
one thread, gave the most clips per second per core; ``python -m bench encoder``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.models.encoder import WHISPER_BASE, EncoderRef, installed_model_parts, load_encoder_weights
from mlcore.models.whisper import CHUNK_SAMPLES, HOP, log_mel
from mlcore.models.whisper_onnx import GRAPH_VERSION, build_encoder_graph, state_names

CACHE_ENV = "SERWEB_ENCODER_CACHE"
THREADS_ENV = "SERWEB_ORT_THREADS"
D_MODEL = 512
MAX_FRAMES = 1500
# Equally long clips or chunks run through the graph together, up to this many mel frames (20 s) per
# call: five 4 s clips, two 10 s chunks.  On one thread a batch saves only Python and call overhead
# (1-4 %); past 20 s the attention scores (8 x frames / 2 squared floats per item) outgrow the caches
# and a batch of eight 10 s chunks was 8 % slower per chunk.
MAX_BATCH_FRAMES = 2000
CHUNKS_PER_CALL = max(1, MAX_BATCH_FRAMES // (CHUNK_SAMPLES // HOP))


def cache_dir() -> Path:
    """Where built graphs are kept (created on first write)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    # Beside the training feature cache (``$SERWEB_CACHE_DIR/features``).
    return Path(os.environ.get("SERWEB_CACHE_DIR") or Path.home() / ".cache" / "serweb") / "encoder"


def ort_threads() -> int:
    return max(1, int(os.environ.get(THREADS_ENV) or 1))


def graph_path(n_layers: int, ref: EncoderRef = WHISPER_BASE) -> Path:
    """The cached graph of the first ``n_layers`` layers of ``ref``'s encoder (its weights in ``.data`` beside)."""
    return cache_dir() / f"whisper-base-{ref.sha256[:12]}-{n_layers}-layers-v{GRAPH_VERSION}.onnx"


def _files(path: Path) -> tuple[Path, Path, Path]:
    """The graph, its weights (external data, which ONNX Runtime maps instead of copying), its sidecar."""
    return path, path.with_name(path.name + ".data"), path.with_name(path.name + ".sha256.json")


def _expected(n_layers: int, ref: EncoderRef) -> dict[str, Any]:
    return {"weights_sha256": ref.sha256, "n_layers": n_layers, "graph_version": GRAPH_VERSION}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _is_valid(path: Path, expected: dict[str, Any]) -> bool:
    """Whether the graph, its data and its sidecar exist and agree."""
    graph, data, sidecar = _files(path)
    try:
        meta = json.loads(sidecar.read_text())
        if not isinstance(meta, dict) or {k: meta.get(k) for k in expected} != expected:
            return False
        return _sha256(graph) == meta.get("onnx_sha256") and _sha256(data) == meta.get("data_sha256")
    except (OSError, ValueError):
        return False


def _write(path: Path, model: Any, expected: dict[str, Any]) -> None:
    """Write the graph, its data and then its sidecar, each whole and renamed into place: several worker
    processes may build at once (they write the same bytes)."""
    import onnx

    graph, data, sidecar = _files(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".build-") as tmp:
        staged = Path(tmp) / graph.name
        onnx.save_model(model, staged, save_as_external_data=True, location=data.name, size_threshold=1024)
        meta = {**expected, "onnx_sha256": _sha256(staged), "data_sha256": _sha256(staged.with_name(data.name))}
        staged.with_name(sidecar.name).write_text(json.dumps(meta, indent=1))
        for target in (data, graph, sidecar):
            os.replace(staged.with_name(target.name), target)


def cached_graph(n_layers: int, ref: EncoderRef = WHISPER_BASE) -> str | bytes:
    """The ONNX graph of ``n_layers`` layers, as ``onnxruntime.InferenceSession`` takes it: the path of the
    verified cached graph (built and cached now when missing or mismatched), or, where the cache folder is
    not writable, the serialised graph itself.

    Raises ``EncoderError`` when the encoder is not installed (or, when building, is not the verified one).
    """
    installed_model_parts(ref)
    path, expected = graph_path(n_layers, ref), _expected(n_layers, ref)
    if _is_valid(path, expected):
        return str(path)
    # Read uncached: once the graph is built, this process holds no second copy of the weights.
    model = build_encoder_graph(load_encoder_weights(ref), n_layers=n_layers)
    try:
        _write(path, model, expected)
    except OSError:
        return build_encoder_graph(load_encoder_weights(ref), n_layers=n_layers).SerializeToString()
    return str(path)


def session(graph: str | bytes, *, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session on ``graph``, ``threads`` intra-op threads (default ``ort_threads()``)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or ort_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    # Without the arena, a batch's buffers go back to the system after the call (no slower, measured):
    # the arena kept the largest batch's attention scores for the life of the worker.
    options.enable_cpu_mem_arena = False
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


class OrtEncoder:
    """The first ``n_layers`` layers of Whisper-base's encoder on ONNX Runtime.

    Same contract as ``mlcore.models.whisper.WhisperEncoder`` (``hidden_states``, ``encode``), plus
    ``encode_many``, which runs the equally long chunks of several signals through the graph together.
    ``session.run`` releases the GIL, so threads may call one encoder at once.
    """

    def __init__(self, n_layers: int, *, threads: int | None = None, graph: str | bytes | None = None) -> None:
        self.n_layers = n_layers
        self._session = session(graph if graph is not None else cached_graph(n_layers), threads=threads)
        self._outputs = state_names(n_layers)
        self.max_frames = MAX_FRAMES

    def hidden_states_batch(self, mels: np.ndarray) -> list[np.ndarray]:
        """States of a batch of equally long mels (batch, frames, 80): n_layers + 1 arrays (batch, ceil(frames / 2), 512)."""
        if mels.shape[1] > 2 * self.max_frames:
            raise ValueError(f"at most {2 * self.max_frames} mel frames (30 s) per call, got {mels.shape[1]}")
        feed = np.ascontiguousarray(mels.transpose(0, 2, 1), dtype=np.float32)
        return self._session.run(self._outputs, {"mel": feed})

    def hidden_states(self, mel: np.ndarray) -> list[np.ndarray]:
        """As ``WhisperEncoder.hidden_states``: ``mel`` (frames, 80) -> n_layers + 1 arrays (ceil(frames / 2), 512)."""
        return [s[0] for s in self.hidden_states_batch(mel[None])]

    def encode(self, y: np.ndarray) -> list[np.ndarray]:
        """As ``WhisperEncoder.encode``: 10 s chunks (run together), states concatenated."""
        return self.encode_many([y])[0]

    def encode_many(self, signals: Sequence[np.ndarray]) -> list[list[np.ndarray]]:
        """``encode`` of each signal; the chunks of every signal grouped by length, ``MAX_BATCH_FRAMES`` per call."""
        chunks = [[y[i : i + CHUNK_SAMPLES] for i in range(0, max(len(y), 1), CHUNK_SAMPLES)] for y in signals]
        mels = {
            (s, c): log_mel(chunk) for s, cs in enumerate(chunks) for c, chunk in enumerate(cs) if len(chunk) >= 2 * HOP
        }
        states: dict[tuple[int, int], list[np.ndarray]] = {}
        by_length: dict[int, list[tuple[int, int]]] = {}
        for key, mel in mels.items():
            by_length.setdefault(mel.shape[0], []).append(key)
        for length, keys in by_length.items():
            per_call = max(1, MAX_BATCH_FRAMES // length)
            for i in range(0, len(keys), per_call):
                batch = keys[i : i + per_call]
                out = self.hidden_states_batch(np.stack([mels[k] for k in batch]))
                for j, key in enumerate(batch):
                    states[key] = [layer[j] for layer in out]
        results = []
        for s, cs in enumerate(chunks):
            per_chunk = [states[(s, c)] for c in range(len(cs)) if (s, c) in states]
            if not per_chunk:
                results.append([np.zeros((0, D_MODEL), np.float32) for _ in range(self.n_layers + 1)])
            else:
                results.append([np.concatenate(layer) for layer in zip(*per_chunk, strict=True)])
        return results

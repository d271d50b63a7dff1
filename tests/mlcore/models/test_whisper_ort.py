"""The encoder on ONNX Runtime against the NumPy reference (the oracle) and CTranslate2: hidden states of
clips of several lengths, batches, the pooled ``whisper-stats`` features, and the graph's disk cache."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from audio_factory import voiced

from mlcore.errors import EncoderError
from mlcore.features import whisper_stats
from mlcore.features.whisper_stats import WhisperStats
from mlcore.labels import EMOTIONS
from mlcore.models import DEFAULT_BUNDLE, encoder, whisper_ort
from mlcore.models.encoder import cached_encoder_weights
from mlcore.models.whisper import WhisperEncoder, log_mel
from mlcore.models.whisper_ort import OrtEncoder, cached_graph, graph_path
from mlcore.serving.predictor import Predictor

SR = 16000
# The shipped default pools layers 2-4, so it runs the first four layers.
DEFAULT_LAYERS = 4


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    return cached_encoder_weights()


@pytest.fixture(scope="module")
def ort_encoder(tmp_path_factory: pytest.TempPathFactory) -> OrtEncoder:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(whisper_ort.CACHE_ENV, str(tmp_path_factory.mktemp("onnx-cache")))
        return OrtEncoder(DEFAULT_LAYERS)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(whisper_ort.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _speech(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Voices at changing pitches with faint noise between them, ``seconds`` long."""
    parts, n = [], int(seconds * SR)
    while sum(p.size for p in parts) < n:
        parts.append(voiced(rng, seconds=1.3, sr=SR, f0=float(rng.uniform(100, 260))))
        parts.append(0.001 * rng.standard_normal(SR // 3).astype(np.float32))
    return np.concatenate(parts)[:n]


def _assert_close(ours: list[np.ndarray], reference: list[np.ndarray]) -> None:
    """Every state equal to the reference's to float32 rounding: an RMS error under 1e-5 of the state's RMS,
    and no value off by more than 5e-5 of its largest activation (four layers of float32 sums)."""
    assert len(ours) == len(reference)
    for a, b in zip(ours, reference, strict=True):
        assert a.shape == b.shape and a.dtype == np.float32
        scale = float(np.abs(b).max())
        assert scale > 1.0  # a real activation, not an all-zero output that would match anything
        assert float(np.sqrt(np.mean(np.square(a - b)) / np.mean(np.square(b)))) <= 1e-5
        assert float(np.abs(a - b).max()) <= 5e-5 * scale


@pytest.mark.parametrize("seconds", [0.5, 1.37, 4.0, 7.77, 10.0, 23.4])
def test_onnx_runtime_states_equal_the_numpy_reference_at_every_length(ort_encoder, weights, rng, seconds):
    y = _speech(rng, seconds)
    reference = WhisperEncoder(weights, n_layers=DEFAULT_LAYERS).encode(y)
    ours = ort_encoder.encode(y)
    assert ours[0].shape == (int(np.ceil(y.size // 160 / 2)) if seconds <= 10 else 1000 + 170, 512)  # 10 s chunks
    _assert_close(ours, reference)


def test_every_layer_with_the_final_norm_equals_the_reference_and_ctranslate2(weights, whisper_model_dir, cache, rng):
    ctranslate2 = pytest.importorskip("ctranslate2")
    mel = log_mel(_speech(rng, 3.0))
    ours = OrtEncoder(6).hidden_states(mel)
    _assert_close(ours, WhisperEncoder(weights).hidden_states(mel))
    model = ctranslate2.models.Whisper(str(whisper_model_dir), device="cpu", intra_threads=1)
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.T[None]))
    last = np.asarray(model.encode(features, to_cpu=True))[0]
    assert float(np.abs(ours[-1] - last).max()) <= 1e-3 * float(np.abs(last).max())


def test_a_batch_of_mixed_lengths_gives_each_signal_what_it_gets_alone(ort_encoder, rng):
    signals = [_speech(rng, s) for s in (4.0, 2.5, 4.0, 12.0, 0.01, 4.0)]
    together = ort_encoder.encode_many(signals)
    for y, states in zip(signals, together, strict=True):
        alone = ort_encoder.encode(y)
        for a, b in zip(states, alone, strict=True):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * float(np.abs(b).max(initial=1.0)))
    assert together[4][0].shape == (0, 512)  # too short for one frame, as the reference


def test_windows_go_through_the_graph_in_equal_batches_each_encoded_alone(ort_encoder, rng, monkeypatch):
    y = _speech(rng, 26.0)
    pieces = [y[start : start + 4 * SR] for start in range(0, 22 * SR + 1, 2 * SR)]  # 12 windows, 2 s hop
    pieces.append(y)  # and the whole recording: 10, 10 and 6 s chunks
    sizes: list[int] = []
    run = ort_encoder.hidden_states_batch
    monkeypatch.setattr(ort_encoder, "hidden_states_batch", lambda mels: sizes.append(len(mels)) or run(mels))
    monkeypatch.setattr(whisper_stats, "ENCODER_THREADS", 1)
    states = list(whisper_stats._encode_pieces(ort_encoder, pieces))
    # Batches of ten windows; five 4 s windows (or two 10 s chunks) per call.
    assert sizes == [5, 5, 2, 2, 1]
    assert [len(s[0]) for s in states] == [200] * 12 + [1300]
    for piece, got in zip(pieces, states, strict=True):
        for layer, expected in zip(got, ort_encoder.encode(piece), strict=True):
            np.testing.assert_allclose(layer, expected, rtol=0, atol=1e-5 * float(np.abs(expected).max()))


def test_pooled_features_equal_those_pooled_from_the_numpy_encoder(weights, rng, monkeypatch):
    extractor = WhisperStats(stats=("mean", "std"))  # the shipped layers 2-4
    y = np.concatenate([_speech(rng, 26.0), 0.0005 * rng.standard_normal(2 * SR).astype(np.float32)])
    bounds = [(0, 4 * SR), (8 * SR, 12 * SR), (18 * SR, 22 * SR), (24 * SR, 28 * SR), (0, y.size)]
    ours = extractor.window_features(y, bounds)
    assert ours.shape == (5, 3072)
    monkeypatch.setattr(whisper_stats, "_encoder", lambda n: WhisperEncoder(weights, n_layers=n))
    reference = extractor.window_features(y, bounds)
    assert np.abs(ours - reference).max() <= 1e-5 * np.abs(reference).max()
    # Window by window, the feature vector moves by less than 1e-5 of its length.
    moved = np.linalg.norm((ours - reference).astype(np.float64), axis=1) / np.linalg.norm(reference, axis=1)
    assert moved.max() < 1e-5


def test_the_shipped_models_probabilities_equal_those_from_the_numpy_encoder(weights, rng, monkeypatch):
    predictor = Predictor(DEFAULT_BUNDLE)
    recordings = [_speech(rng, 4.0), _speech(rng, 6.3), _speech(rng, 21.0)]
    ours = predictor.analyse_many(recordings)
    monkeypatch.setattr(whisper_stats, "_encoder", lambda n: WhisperEncoder(weights, n_layers=n))
    reference = predictor.analyse_many(recordings)
    for a, b in zip(ours, reference, strict=True):
        assert len(a.timeline) == len(b.timeline) and a.emotion == b.emotion
        for x, y in [(a, b), *zip(a.timeline, b.timeline, strict=True)]:
            assert max(abs(x.probabilities[e] - y.probabilities[e]) for e in EMOTIONS) < 1e-4
    assert len(ours[2].timeline) == 10


def test_serving_runs_on_onnx_runtime_one_thread_per_session(ort_encoder, monkeypatch):
    assert isinstance(WhisperStats().load(), OrtEncoder)
    assert ort_encoder._session.get_session_options().intra_op_num_threads == 1
    monkeypatch.setenv(whisper_ort.THREADS_ENV, "2")
    assert whisper_ort.ort_threads() == 2


def test_more_than_30_seconds_of_mel_in_one_call_is_refused(ort_encoder):
    ort_encoder.hidden_states(np.zeros((3000, 80), np.float32))
    with pytest.raises(ValueError, match="30 s"):
        ort_encoder.hidden_states(np.zeros((3001, 80), np.float32))


# --- the cached graph ------------------------------------------------------------------------------


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def test_the_graph_is_built_once_then_read_back_without_the_weights(cache, monkeypatch):
    first = cached_graph(1)
    path = graph_path(1)
    assert first == str(path) and path.parent == cache
    meta = json.loads(_sidecar(path).read_text())
    assert meta["weights_sha256"] == encoder.WHISPER_BASE.sha256 and meta["n_layers"] == 1
    assert meta["onnx_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    data = path.with_name(path.name + ".data")
    assert meta["data_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert data.stat().st_size > 4e6  # the weights live beside the graph, mapped by ONNX Runtime

    def no_weights(*args: object) -> None:
        raise AssertionError("a cached graph must not need the weights")

    monkeypatch.setattr(whisper_ort, "load_encoder_weights", no_weights)
    assert cached_graph(1) == first
    assert sorted(p.name for p in cache.iterdir()) == sorted([path.name, data.name, _sidecar(path).name])


@pytest.mark.parametrize("suffix", ["", ".data"])
def test_a_damaged_cached_graph_is_rebuilt(cache, rng, suffix):
    path = Path(cached_graph(1))
    damaged = path.with_name(path.name + suffix)
    good = damaged.read_bytes()
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0xFF
    damaged.write_bytes(bytes(flipped))
    assert cached_graph(1) == str(path) and damaged.read_bytes() == good


def test_a_graph_recorded_for_other_weights_is_rebuilt(cache, monkeypatch):
    path = Path(cached_graph(0))
    sidecar = _sidecar(path)
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "weights_sha256": "0" * 64}))
    loads = []
    real = whisper_ort.load_encoder_weights
    monkeypatch.setattr(whisper_ort, "load_encoder_weights", lambda *a: loads.append(a) or real(*a))
    assert cached_graph(0) == str(path) and len(loads) == 1
    assert json.loads(sidecar.read_text())["weights_sha256"] == encoder.WHISPER_BASE.sha256


def test_an_unwritable_cache_folder_still_serves(weights, tmp_path, monkeypatch, rng):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(whisper_ort.CACHE_ENV, str(blocker / "cache"))  # a folder under a file cannot exist
    graph = cached_graph(0)
    assert isinstance(graph, bytes)
    mel = log_mel(_speech(rng, 1.0))
    _assert_close(OrtEncoder(0, graph=graph).hidden_states(mel), WhisperEncoder(weights, n_layers=0).hidden_states(mel))


def test_a_cached_graph_does_not_hide_a_missing_encoder(cache, monkeypatch, fresh_encoder_caches):
    cached_graph(1)
    monkeypatch.delenv(encoder.ENV_DIR, raising=False)
    monkeypatch.setattr(encoder, "_package_parts", lambda: None)
    with pytest.raises(EncoderError, match="is not installed"):
        cached_graph(1)


def test_the_graph_cache_sits_beside_the_feature_cache_unless_named(tmp_path, monkeypatch):
    monkeypatch.delenv(whisper_ort.CACHE_ENV, raising=False)
    monkeypatch.setenv("SERWEB_CACHE_DIR", str(tmp_path))
    assert whisper_ort.cache_dir() == tmp_path / "encoder"
    monkeypatch.setenv(whisper_ort.CACHE_ENV, str(tmp_path / "elsewhere"))
    assert graph_path(4).parent == tmp_path / "elsewhere"

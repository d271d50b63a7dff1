"""Whisper-base's encoder in NumPy: the log-mel front end, the forward pass against CTranslate2's own,
long recordings in chunks, and the ``whisper-stats`` features pooled over speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from audio_factory import voiced

from mlcore.data.audio import load_audio
from mlcore.features.registry import extractor_from_json, extractor_to_json, get_extractor
from mlcore.features.speech import speech_frames
from mlcore.features.whisper_stats import WhisperStats
from mlcore.models.encoder import cached_encoder_weights
from mlcore.models.whisper import CHUNK_SAMPLES, WhisperEncoder, log_mel
from mlcore.serving.smoke import voiced_clip

SR = 16000


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    return cached_encoder_weights()


@pytest.fixture(scope="module")
def full_encoder(weights) -> WhisperEncoder:
    return WhisperEncoder(weights)


@pytest.fixture(scope="module")
def ctranslate2_whisper(whisper_model_dir: Path):
    ctranslate2 = pytest.importorskip("ctranslate2")
    return ctranslate2.models.Whisper(str(whisper_model_dir), device="cpu", intra_threads=2)


def _ctranslate2_last_layer(model, mel: np.ndarray) -> np.ndarray:
    import ctranslate2

    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.T[None], dtype=np.float32))
    return np.asarray(model.encode(features, to_cpu=True))[0]


def _voices(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Voices at alternating pitches, one a second."""
    return np.concatenate(
        [voiced(rng, seconds=1.0, sr=SR, f0=(120.0, 210.0, 160.0)[k % 3]) for k in range(int(seconds))]
    )


def _assert_matches_ctranslate2(encoder: WhisperEncoder, model, y: np.ndarray) -> None:
    mel = log_mel(y)
    mel = mel[: mel.shape[0] // 2 * 2]  # CTranslate2 takes an even number of mel frames
    reference = _ctranslate2_last_layer(model, mel)
    ours = encoder.hidden_states(mel)[-1]
    assert ours.shape == reference.shape == (mel.shape[0] // 2, 512)
    scale = float(np.abs(reference).max())
    assert scale > 1.0  # a real activation, not an all-zero output that would match anything
    assert float(np.abs(ours - reference).max()) <= 1e-3 * scale
    # Frame by frame, the two agree on direction too (a shuffled or shifted output would not).
    cosine = np.sum(ours * reference, axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1))
    assert cosine.min() > 0.9999


# --- log-mel -------------------------------------------------------------------------------------


def test_log_mel_has_100_frames_per_second_and_80_bands(rng):
    y = voiced(rng, seconds=2.5, sr=SR)
    mel = log_mel(y)
    assert mel.shape == (250, 80)
    assert mel.dtype == np.float32


def test_log_mel_is_whispers_normalised_range(rng):
    mel = log_mel(voiced_clip(sr=SR, seconds=2.0, rng=rng))  # a tone with 80+ dB of range
    # The floor sits 8 decades (log10) under the loudest bin, then (x + 4) / 4: a span of at most 2.
    assert mel.max() - mel.min() == pytest.approx(2.0, abs=1e-5)
    assert 0.0 < mel.max() < 1.5
    silent = log_mel(np.zeros(SR, np.float32))
    np.testing.assert_allclose(silent, -1.5, atol=1e-6)  # float32; log10(1e-10) = -10 -> (-10 + 4) / 4


def test_log_mel_matches_whispers_recipe_computed_with_librosa(rng):
    librosa = pytest.importorskip("librosa")
    y = voiced(rng, seconds=1.5, sr=SR, f0=210.0)
    # torch.stft(center=True) as Whisper calls it, in float64: reflect-padded, periodic Hann, last frame dropped.
    padded = np.pad(y.astype(np.float64), 200, mode="reflect")
    frames = np.stack([padded[i : i + 400] for i in range(0, len(padded) - 400 + 1, 160)])[:-1]
    power = np.abs(np.fft.rfft(frames * np.hanning(401)[:-1], axis=1)) ** 2
    mel = librosa.filters.mel(sr=SR, n_fft=400, n_mels=80) @ power.T
    reference = np.log10(np.maximum(mel, 1e-10))
    reference = (np.maximum(reference, reference.max() - 8.0) + 4.0) / 4.0
    np.testing.assert_allclose(log_mel(y), reference.T, atol=2e-4)


# --- the forward pass ----------------------------------------------------------------------------


def test_numpy_forward_pass_matches_ctranslate2_on_a_synthetic_voice(full_encoder, ctranslate2_whisper, rng):
    y = np.concatenate([voiced(rng, seconds=1.2, sr=SR, f0=130.0), voiced(rng, seconds=1.0, sr=SR, f0=240.0)])
    _assert_matches_ctranslate2(full_encoder, ctranslate2_whisper, y)


def test_numpy_forward_pass_matches_ctranslate2_on_a_ravdess_clip(full_encoder, ctranslate2_whisper, ravdess_dir):
    path = sorted(ravdess_dir.glob("Actor_01/03-01-05-*"))[0]  # an angry statement
    _assert_matches_ctranslate2(full_encoder, ctranslate2_whisper, load_audio(path, sr=SR))


def test_stopping_early_leaves_the_earlier_layers_unchanged(weights, full_encoder, rng):
    mel = log_mel(voiced(rng, seconds=1.0, sr=SR))
    everything = full_encoder.hidden_states(mel)
    first_two = WhisperEncoder(weights, n_layers=2).hidden_states(mel)
    assert len(everything) == 7 and len(first_two) == 3
    for ours, full in zip(first_two, everything[:3], strict=True):
        np.testing.assert_array_equal(ours, full)
    # The last state of a full run carries the final layer norm: zero mean, unit spread per frame
    # before its gain and bias, so it differs from the raw residual stream of layer 6.
    assert not np.allclose(everything[-1], everything[-2])


def test_asking_for_more_layers_than_the_encoder_has_is_refused(weights):
    with pytest.raises(ValueError, match="6 layers"):
        WhisperEncoder(weights, n_layers=7)


def test_more_than_30_seconds_of_mel_in_one_call_is_refused(weights):
    with pytest.raises(ValueError, match="30 s"):
        WhisperEncoder(weights, n_layers=0).hidden_states(np.zeros((3002, 80), np.float32))


def test_long_audio_is_encoded_in_chunks(weights, rng):
    convs = WhisperEncoder(weights, n_layers=0)  # the chunking, without the cost of the layers
    per_chunk = CHUNK_SAMPLES // 320
    tail = SR // 2 + 100
    y = _voices(rng, CHUNK_SAMPLES / SR + 1)[: CHUNK_SAMPLES + tail]
    (states,) = convs.encode(y)
    # Every frame of the first chunk, then one per two mel frames of the rest.
    assert states.shape == (per_chunk + -(-(tail // 160) // 2), 512) == (per_chunk + 25, 512)
    (first,) = convs.hidden_states(log_mel(y[:CHUNK_SAMPLES]))
    (rest,) = convs.hidden_states(log_mel(y[CHUNK_SAMPLES:]))
    np.testing.assert_array_equal(states[:per_chunk], first)
    np.testing.assert_array_equal(states[per_chunk:], rest)


def test_a_tail_too_short_for_one_frame_adds_nothing(weights, rng):
    convs = WhisperEncoder(weights, n_layers=0)
    y = _voices(rng, CHUNK_SAMPLES / SR + 1)[: CHUNK_SAMPLES + 100]
    assert convs.encode(y)[0].shape == (CHUNK_SAMPLES // 320, 512)
    assert convs.encode(np.zeros(100, np.float32))[0].shape == (0, 512)


# --- whisper-stats -------------------------------------------------------------------------------


def test_whisper_stats_pools_mean_and_std_over_speech_frames_only(weights, rng):
    extractor = WhisperStats(layers=(1, 2), stats=("mean", "std"))
    quiet = 0.0005 * rng.standard_normal(SR).astype(np.float32)
    y = np.concatenate([quiet, voiced(rng, seconds=1.5, sr=SR), quiet])
    features = extractor(y)
    assert features.shape == extractor.output_shape == (2048,)
    states = WhisperEncoder(weights, n_layers=2).encode(y)
    speech = speech_frames(y, sr=SR, hop=320)[: len(states[1])]
    assert 0.25 < speech.mean() < 0.45  # at most 1.5 s of 3.5 s
    np.testing.assert_allclose(features[:512], states[1][speech].mean(axis=0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(features[512:1024], states[1][speech].std(axis=0), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(features[1024:1536], states[2][speech].mean(axis=0), rtol=1e-4, atol=1e-4)
    # The silences would pull the mean elsewhere: pooling over every frame gives other features.
    assert np.abs(features[:512] - states[1].mean(axis=0)).max() > 0.1


def test_whisper_stats_gives_one_row_per_window(rng):
    extractor = WhisperStats(layers=(1, 2), stats=("mean", "std"))
    y = np.concatenate([voiced(rng, seconds=2.0, sr=SR, f0=f0) for f0 in (110.0, 260.0)])
    rows = extractor.window_features(y, [(0, 2 * SR), (2 * SR, 4 * SR), (0, 4 * SR)])
    assert rows.shape == (3, 2048)
    assert np.all(np.isfinite(rows))
    # Different voices in the two halves give different features; the whole is neither of them.
    assert np.abs(rows[0] - rows[1]).max() > 0.1
    assert min(np.abs(rows[2] - rows[0]).max(), np.abs(rows[2] - rows[1]).max()) > 0.05


def test_a_window_is_judged_on_its_own_whatever_surrounds_it(rng):
    # The head learnt from clips encoded alone; a window encoded inside 10 s of its neighbours (other
    # positions, other context) was judged right 13 points less often.  So a window's features are the
    # same wherever it sits in a recording.
    extractor = WhisperStats(layers=(2, 3))
    window = voiced(rng, seconds=4.0, sr=SR, f0=180.0)
    before = [voiced(rng, seconds=6.0, sr=SR, f0=f0) for f0 in (95.0, 300.0)]
    after = [voiced(rng, seconds=3.0, sr=SR, f0=f0) for f0 in (240.0, 120.0)]
    rows = []
    for lead, tail in zip(before, after, strict=True):
        y = np.concatenate([lead, window, tail])
        rows.append(
            extractor.window_features(
                y, [(lead.size, lead.size + window.size)], speech=np.ones(y.size // 320 + 1, bool)
            )
        )
    np.testing.assert_allclose(rows[0], rows[1], rtol=1e-4, atol=1e-4)
    alone = extractor.window_features(window, [(0, window.size)], speech=np.ones(window.size // 320 + 1, bool))
    np.testing.assert_allclose(rows[0], alone, rtol=1e-4, atol=1e-4)


def test_whisper_stats_round_trips_through_json_with_its_encoder():
    extractor = get_extractor("whisper-stats", layers=[1, 2])
    spec = extractor_to_json(extractor)
    assert spec["params"]["encoder"]["name"] == "Systran/faster-whisper-base"
    assert extractor_from_json(spec) == extractor == WhisperStats(layers=(1, 2))


def test_whisper_stats_by_default_pools_the_mean_only_and_slices_the_cached_superset(rng):
    y = voiced(rng, seconds=1.5, sr=SR)
    both = WhisperStats(layers=(1, 2), stats=("mean", "std"))
    mean_only = WhisperStats(layers=(1, 2))
    assert mean_only.stats == ("mean",) and mean_only.output_shape == (1024,)
    full, superset = both(y), mean_only.cache_superset()(y)
    np.testing.assert_allclose(mean_only(y), np.concatenate([full[:512], full[1024:1536]]), atol=1e-5)
    np.testing.assert_allclose(mean_only.from_superset(superset), mean_only(y), atol=1e-5)
    np.testing.assert_allclose(both.from_superset(superset), full, atol=1e-5)
    with pytest.raises(ValueError, match="stats"):
        WhisperStats(stats=("median",))


def test_whisper_stats_refuses_layers_the_encoder_does_not_have():
    for layers in ((-1, 2), (3, 7), ()):
        with pytest.raises(ValueError, match="layers 0 to 6"):
            WhisperStats(layers=layers)


def test_each_window_pools_its_own_encoding_over_the_recordings_speech_frames(weights, rng):
    # The convolutions only: the window bookkeeping is what is tested.
    extractor = WhisperStats(layers=(0,), stats=("mean", "std"))
    y = np.concatenate([_voices(rng, 31.0), 0.0005 * rng.standard_normal(3 * SR).astype(np.float32)])
    bounds = [(28 * SR, 32 * SR), (0, 4 * SR), (30 * SR, 34 * SR), (0, y.size)]
    rows = extractor.window_features(y, bounds)
    speech = speech_frames(y, sr=SR, hop=320)
    encoder = WhisperEncoder(weights, n_layers=0)
    assert len(speech) == 1700
    for row, (start, end) in zip(rows, bounds, strict=True):
        (states,) = encoder.encode(y[start:end])  # 10 s chunks for the whole recording
        expected = states[speech[start // 320 : end // 320]]
        np.testing.assert_allclose(row[:512], expected.mean(axis=0), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(row[512:], expected.std(axis=0), rtol=1e-3, atol=1e-3)
    # The third window is 1 s of voice and 3 s of room tone: only the voice is pooled.
    assert 35 <= speech[1500:1700].sum() <= 60 and not speech[1600:1700].any()  # the detector hangs on ~0.1 s

"""Feature extractors: fixed shapes, determinism, padding, gain invariance; the train-only Standardizer."""

from __future__ import annotations

import numpy as np
import pytest
from audio_factory import voiced

from mlcore.errors import FeatureError
from mlcore.features.registry import Needs, available, extractor_from_json, extractor_to_json, get_extractor
from mlcore.features.standardizer import Standardizer

SR = 22050


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return voiced(np.random.default_rng(5), seconds=3.0, sr=SR)


def _relative_change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def test_the_five_extractors_are_registered():
    assert available() == ["logmel-frames", "logmel-stats", "spectral-stack", "whisper-stats", "zcr-rms-mfcc"]


@pytest.mark.parametrize("name", available())
def test_extractor_output_is_finite_float32_of_its_declared_shape_and_deterministic(name, speech):
    extractor = get_extractor(name)
    first = extractor(speech)
    assert first.shape == extractor.output_shape
    assert first.dtype == np.float32
    assert np.all(np.isfinite(first))
    assert np.array_equal(extractor(speech.copy()), first)


def test_extractors_declare_the_rate_grid_and_weights_they_need():
    assert get_extractor("whisper-stats").needs == Needs(sr=16000, hop=320, pools_speech=True, weights=True)
    assert get_extractor("logmel-stats", sr=16000).needs == Needs(sr=16000, hop=256, framed=True)
    assert get_extractor("logmel-frames").needs == Needs(sr=22050, hop=512)
    assert get_extractor("zcr-rms-mfcc", hop_length=256).needs == Needs(sr=22050, hop=256)


@pytest.mark.parametrize(("name", "shape"), [("zcr-rms-mfcc", (2376,)), ("spectral-stack", (160, 275))])
def test_short_clip_is_padded_to_the_fixed_shape(name, shape, rng):
    extractor = get_extractor(name)
    one_second = voiced(rng, seconds=1.0, sr=SR)
    out = extractor(one_second)
    assert out.shape == shape == extractor.output_shape
    assert np.all(np.isfinite(out))


def test_zcr_rms_mfcc_pads_the_missing_end_with_silence(rng):
    out = get_extractor("zcr-rms-mfcc")(voiced(rng, seconds=1.0, sr=SR))
    zcr, rms = out[:108], out[108:216]
    # 1 s minus the 0.6 s offset leaves 0.4 s (~17 frames) of speech, then zero padding.
    assert np.all(rms[:15] > 0.01) and np.all(rms[25:] == 0) and np.all(zcr[25:] == 0)


def test_logmel_stats_handles_a_half_second_clip(rng):
    extractor = get_extractor("logmel-stats")
    out = extractor(voiced(rng, seconds=0.5, sr=SR))
    assert out.shape == extractor.output_shape and np.all(np.isfinite(out))


def test_logmel_stats_is_gain_invariant_unlike_the_original_vector(speech):
    logmel = get_extractor("logmel-stats")
    assert _relative_change(logmel(speech), logmel(0.1 * speech)) < 1e-3
    # The 1D-CNN app's vector carries absolute RMS and MFCC energy: the contrast shows the check bites.
    original = get_extractor("zcr-rms-mfcc")
    assert _relative_change(original(speech), original(0.1 * speech)) > 0.1


def test_logmel_stats_pooled_frames_equal_the_call(speech):
    extractor = get_extractor("logmel-stats")
    frames = extractor.frame_features(speech)
    assert frames.shape == (1 + speech.size // extractor.hop_length, extractor.frame_dim)
    np.testing.assert_array_equal(extractor.pool(frames), extractor(speech))


def test_logmel_stats_pooled_window_is_close_to_extracting_the_window_alone(speech):
    extractor = get_extractor("logmel-stats")
    frames = extractor.frame_features(speech)
    start, stop = int(1.0 * extractor.frames_per_second), int(2.0 * extractor.frames_per_second)
    window = speech[start * extractor.hop_length : stop * extractor.hop_length]
    # Only the window's edge frames differ (they see neighbouring audio instead of reflected padding).
    assert _relative_change(extractor(window), extractor.pool(frames[start:stop])) < 0.02


def test_unknown_extractor_or_parameter_raises_feature_error():
    with pytest.raises(FeatureError, match="Unknown feature extractor 'mfcc'; choose one of logmel-frames"):
        get_extractor("mfcc")
    with pytest.raises(FeatureError, match="Bad parameters for feature extractor 'logmel-stats'"):
        get_extractor("logmel-stats", n_bands=3)


def test_extractor_round_trips_through_its_json_spec():
    extractor = get_extractor("spectral-stack", max_frames=90, n_mfcc=13)
    spec = extractor_to_json(extractor)
    assert spec["name"] == "spectral-stack" and spec["params"]["max_frames"] == 90
    rebuilt = extractor_from_json(spec)
    assert rebuilt == extractor and rebuilt.output_shape == (90, 3 * 13 + 12 + 128 + 15)


def test_standardizer_is_fitted_on_the_training_rows_only(rng):
    train = rng.normal(loc=[5.0, -2.0, 0.0], scale=[2.0, 0.5, 1.0], size=(500, 3)).astype(np.float32)
    test = rng.normal(loc=100.0, scale=30.0, size=(50, 3)).astype(np.float32)
    scaler = Standardizer.fit(train)
    np.testing.assert_allclose(scaler.mean, train.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(scaler.scale, train.std(axis=0), rtol=1e-5)
    z = scaler.transform(train)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-4)
    # Test rows are transformed with the training statistics, so they stay far from zero.
    assert np.all(scaler.transform(test).mean(axis=0) > 10)


def test_standardizer_scales_per_channel_over_frames_and_survives_constant_channels(rng):
    x = rng.normal(size=(20, 160, 4)).astype(np.float32)
    x[..., 3] = 7.0
    scaler = Standardizer.fit(x)
    z = scaler.transform(x)
    assert z.shape == x.shape
    np.testing.assert_allclose(z.reshape(-1, 4)[:, :3].std(axis=0), 1, atol=1e-4)
    assert scaler.scale[3] == 1.0 and np.all(z[..., 3] == 0)


def test_standardizer_round_trips_through_json(rng):
    scaler = Standardizer.fit(rng.normal(size=(100, 6)))
    again = Standardizer.from_json(scaler.to_json())
    assert again == scaler
    x = rng.normal(size=(10, 6)).astype(np.float32)
    np.testing.assert_array_equal(again.transform(x), scaler.transform(x))


def test_logmel_stats_mel_filters_equal_librosas_without_importing_it() -> None:
    import librosa

    from mlcore.dsp import mel_basis

    ours = mel_basis(22050, 1024, 64, 50.0, 8000.0)
    theirs = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=64, fmin=50.0, fmax=8000.0).T
    np.testing.assert_allclose(ours, theirs, atol=1e-7)


def test_logmel_frames_are_four_seconds_of_64_bands_whatever_the_clip_length(rng):
    extractor = get_extractor("logmel-frames")
    assert extractor.output_shape == (173, 64)
    for seconds in (0.5, 3.0, 6.0):
        out = extractor(voiced(rng, seconds=seconds, sr=SR))
        assert out.shape == (173, 64) and out.dtype == np.float32 and np.all(np.isfinite(out))


def test_logmel_frames_are_deterministic_and_gain_invariant(speech):
    extractor = get_extractor("logmel-frames")
    out = extractor(speech)
    np.testing.assert_array_equal(extractor(speech.copy()), out)
    # Relative dB with a relative floor: a recording 40 dB quieter gives the same frames.
    np.testing.assert_allclose(extractor(0.01 * speech), out, atol=1e-3)


def test_logmel_frames_pad_a_short_clip_with_zeros_after_its_own_frames(rng):
    extractor = get_extractor("logmel-frames")
    out = extractor(voiced(rng, seconds=1.0, sr=SR))
    n_real = 1 + SR // extractor.hop_length  # 44 frames of a 1 s clip
    assert np.all(out[n_real:] == 0)
    assert np.all(np.any(out[:n_real] != 0, axis=1))


def test_logmel_frames_subtract_each_bands_mean_over_active_frames(speech):
    normalised = get_extractor("logmel-frames")(speech)
    raw = get_extractor("logmel-frames", subtract_mean=False)(speech)
    n_real = 1 + speech.size // 512
    # Without normalisation every value is dB re the loudest bin; with it, band means over speech are ~0.
    assert raw.max() <= 0.0 and raw[:n_real].min() >= -80.0
    offsets = raw[:n_real] - normalised[:n_real]
    np.testing.assert_allclose(offsets, np.broadcast_to(offsets[0], offsets.shape), atol=1e-4)
    assert np.abs(offsets[0]).max() > 1.0


def test_logmel_frames_keep_the_loudest_four_seconds_of_a_long_clip(rng):
    extractor = get_extractor("logmel-frames", subtract_mean=False)
    burst = voiced(rng, seconds=3.0, sr=SR)
    y = np.concatenate([np.zeros(5 * SR, np.float32), burst, np.zeros(2 * SR, np.float32)])
    out = extractor(y)
    # The first 4 s are silence; the kept window must hold the 3 s of speech (~129 frames) instead.
    speaking = np.any(out > -79.9, axis=1)
    assert speaking.sum() >= 125


def test_a_silent_clip_gives_all_zero_logmel_frames():
    out = get_extractor("logmel-frames")(np.zeros(SR, np.float32))
    assert out.shape == (173, 64) and np.all(out == 0)

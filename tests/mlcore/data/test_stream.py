"""A recording decoded block by block into a file holds exactly what ``load_audio`` gives, is refused
for the same reasons with the same messages, and is read back by range."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from audio_factory import flac_without_length, voiced

from mlcore.data.audio import envelope, load_audio
from mlcore.data.stream import BLOCK_FRAMES, SampleFile, decode_to_file
from mlcore.errors import SilentAudioError, TooLongError, TooShortError, UnreadableAudioError

SR = 16000


def _write(path, y: np.ndarray, sr: int, **kwargs) -> str:
    # Block by block: libsndfile's Vorbis writer crashes on one large write.
    with sf.SoundFile(path, "w", samplerate=sr, channels=1 if y.ndim == 1 else y.shape[1], **kwargs) as f:
        for i in range(0, len(y), 8192):
            f.write(y[i : i + 8192])
    return str(path)


@pytest.fixture
def long_voice(rng) -> np.ndarray:
    # Several of the decoder's blocks long, so block edges (and the resampler's) fall inside it.
    return np.tile(voiced(rng, seconds=3.0, sr=22050), 4) * np.float32(0.8)


@pytest.mark.parametrize(
    ("name", "sr", "channels", "kwargs"),
    [
        ("same-rate.wav", SR, 1, {}),
        ("resampled.wav", 22050, 1, {"subtype": "PCM_16"}),
        ("stereo.flac", 44100, 2, {}),
        ("inverted.wav", 22050, -2, {}),  # channels that cancel when mixed: the louder one, as load_audio
        ("vorbis.ogg", 22050, 1, {}),
        ("mpeg.mp3", 22050, 1, {}),
    ],
)
def test_the_file_holds_exactly_what_load_audio_gives(tmp_path, long_voice, name, sr, channels, kwargs) -> None:
    y = long_voice if sr == 22050 else np.interp(np.arange(0, len(long_voice), 22050 / sr), np.arange(len(long_voice)), long_voice).astype(np.float32)  # fmt: skip
    if channels == 2:
        y = np.stack([y, 0.5 * y], axis=1)
    elif channels == -2:
        y = np.stack([y, -y], axis=1)
    path = _write(tmp_path / name, y, sr, **kwargs)
    assert sf.info(path).frames > BLOCK_FRAMES

    expected = load_audio(path, sr=SR)
    samples = decode_to_file(path, tmp_path / "decoded.f32", sr=SR)

    assert isinstance(samples, SampleFile) and samples.size == expected.size
    np.testing.assert_array_equal(samples[:], expected)
    np.testing.assert_array_equal(samples[1234:5678], expected[1234:5678])
    np.testing.assert_array_equal(envelope(samples), envelope(expected))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # nothing staged is left


def test_a_flac_without_a_length_streams_too(tmp_path, long_voice) -> None:
    path = tmp_path / "piped.flac"
    path.write_bytes(flac_without_length(long_voice, 22050))
    np.testing.assert_array_equal(decode_to_file(path, tmp_path / "d.f32", sr=SR)[:], load_audio(path, sr=SR))


def test_samples_beyond_full_scale_are_rescaled_as_load_audio_does(tmp_path, long_voice) -> None:
    path = _write(tmp_path / "int16-units.wav", long_voice * 32767, 22050, subtype="FLOAT")
    np.testing.assert_array_equal(decode_to_file(path, tmp_path / "d.f32", sr=SR)[:], load_audio(path, sr=SR))


@pytest.mark.parametrize(
    ("make", "error", "limits"),
    [
        (lambda rng: np.zeros(22050 * 4, np.float32), SilentAudioError, {}),
        (lambda rng: voiced(rng, seconds=0.2, sr=22050), TooShortError, {}),
        (lambda rng: voiced(rng, seconds=8.0, sr=22050), TooLongError, {"max_duration_s": 5.0}),
    ],
)
def test_refusals_are_load_audios_own(tmp_path, rng, make, error, limits) -> None:
    path = _write(tmp_path / "x.wav", make(rng), 22050)
    with pytest.raises(error) as whole:
        load_audio(path, sr=SR, **limits)
    with pytest.raises(error) as streamed:
        decode_to_file(path, tmp_path / "d.f32", sr=SR, **limits)
    assert str(streamed.value) == str(whole.value)
    assert list(tmp_path.glob("*.f32")) == [] and [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_file_that_is_not_audio_is_refused_with_advice(tmp_path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("not audio\n" * 100)
    with pytest.raises(UnreadableAudioError, match="Upload a WAV"):
        decode_to_file(path, tmp_path / "d.f32", sr=SR)

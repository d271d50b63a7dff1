"""The pretrained encoder's weights: found, verified by size and sha256, refused with an instruction
when missing, corrupt or unknown, and read from CTranslate2's format without running anything."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from mlcore.errors import BundleError, EncoderError
from mlcore.models import encoder
from mlcore.models.encoder import (
    ENV_DIR,
    WHISPER_BASE,
    EncoderRef,
    cached_encoder_weights,
    known_encoder,
    load_encoder_weights,
    parse_ctranslate2,
)

INSTALL = "pip install --require-hashes -r requirements-encoder.txt"


def _copy_model(src: Path, dest: Path) -> Path:
    dest.mkdir()
    shutil.copyfile(src / "model.bin", dest / "model.bin")
    shutil.copyfile(src / "config.json", dest / "config.json")
    return dest


def _assert_says_how_to_fix(error: EncoderError) -> None:
    message = str(error)
    assert INSTALL in message
    assert ENV_DIR in message


# --- the real weights ---------------------------------------------------------------------------


def test_installed_weights_verify_and_hold_whisper_base_encoder():
    weights = cached_encoder_weights()
    layers = {k.split("/")[0] for k in weights if k.endswith("/self_attention/linear_0/weight")}
    assert layers == {f"layer_{i}" for i in range(6)}
    assert weights["layer_norm/gamma"].shape == (512,)
    assert weights["conv1/weight"].shape == (512, 80, 3)
    assert weights["position_encodings/encodings"].shape == (1500, 512)
    assert int(weights["num_heads"]) == 8
    assert weights["layer_0/self_attention/linear_0/weight"].dtype == np.float32
    # Only the encoder is read: the decoder's tensors (most of model.bin) stay out of memory.
    assert not any(k.startswith("decoder") for k in weights)


def test_cached_weights_are_read_only():
    weights = cached_encoder_weights()
    with pytest.raises(ValueError):
        weights["conv1/bias"][0] = 1.0


def test_a_folder_given_by_argument_or_environment_gives_the_same_weights(whisper_model_dir, monkeypatch):
    installed = cached_encoder_weights()
    from_dir = load_encoder_weights(directory=whisper_model_dir)
    monkeypatch.setenv(ENV_DIR, str(whisper_model_dir))
    from_env = load_encoder_weights()
    for name in ("conv2/weight", "layer_5/ffn/linear_1/weight", "layer_norm/gamma"):
        np.testing.assert_array_equal(from_dir[name], installed[name])
        np.testing.assert_array_equal(from_env[name], installed[name])


# --- refusals ------------------------------------------------------------------------------------


def test_one_flipped_byte_in_model_bin_is_refused(whisper_model_dir, tmp_path):
    folder = _copy_model(whisper_model_dir, tmp_path / "flipped")
    with open(folder / "model.bin", "r+b") as f:
        f.seek(WHISPER_BASE.size // 2)
        byte = f.read(1)
        f.seek(WHISPER_BASE.size // 2)
        f.write(bytes([byte[0] ^ 0x01]))
    assert (folder / "model.bin").stat().st_size == WHISPER_BASE.size
    with pytest.raises(EncoderError, match="sha256") as caught:
        load_encoder_weights(directory=folder)
    assert "corrupt" in str(caught.value)
    _assert_says_how_to_fix(caught.value)


def test_a_truncated_model_bin_named_by_the_environment_is_refused(whisper_model_dir, tmp_path, monkeypatch):
    folder = _copy_model(whisper_model_dir, tmp_path / "truncated")
    os.truncate(folder / "model.bin", WHISPER_BASE.size - 4096)
    monkeypatch.setenv(ENV_DIR, str(folder))
    with pytest.raises(EncoderError, match="truncated") as caught:
        load_encoder_weights()
    assert f"{WHISPER_BASE.size - 4096:,} bytes" in str(caught.value)
    _assert_says_how_to_fix(caught.value)


def test_a_folder_without_model_bin_gives_the_install_instruction(tmp_path):
    with pytest.raises(EncoderError, match="holds no model.bin") as caught:
        load_encoder_weights(directory=tmp_path)
    _assert_says_how_to_fix(caught.value)


def test_without_packages_or_environment_the_encoder_is_reported_not_installed(monkeypatch):
    monkeypatch.delenv(ENV_DIR, raising=False)
    monkeypatch.setattr(encoder, "_package_parts", lambda: None)
    with pytest.raises(EncoderError, match="is not installed") as caught:
        load_encoder_weights()
    assert WHISPER_BASE.name in str(caught.value)
    _assert_says_how_to_fix(caught.value)


def test_package_halves_that_are_missing_count_as_not_installed(monkeypatch):
    real = encoder.importlib.util.find_spec
    monkeypatch.setattr(
        encoder.importlib.util,
        "find_spec",
        lambda name, *a: None if name == encoder.PACKAGES[1] else real(name, *a),
    )
    assert encoder._package_parts() is None


def test_an_encoder_error_is_a_bundle_error():
    # Callers that already handle a broken bundle (the web app, the CLI) handle a broken encoder too.
    assert issubclass(EncoderError, BundleError)


def test_an_unknown_encoder_is_refused_before_anything_is_read(tmp_path):
    other = EncoderRef(name="openai/whisper-large-v3", revision="main", sha256="0" * 64, size=10)
    with pytest.raises(EncoderError, match="does not know") as caught:
        known_encoder(other)
    assert WHISPER_BASE.name in str(caught.value)  # says what is supported
    with pytest.raises(EncoderError, match="does not know"):
        load_encoder_weights(other, directory=tmp_path)


def test_the_known_encoder_at_another_revision_is_refused():
    pinned_elsewhere = EncoderRef(WHISPER_BASE.name, "0" * 40, WHISPER_BASE.sha256, WHISPER_BASE.size)
    with pytest.raises(EncoderError, match="does not know"):
        known_encoder(pinned_elsewhere)
    assert known_encoder(EncoderRef(**WHISPER_BASE.to_json())) is WHISPER_BASE


# --- references in bundles ---------------------------------------------------------------------


def test_encoder_reference_survives_a_json_round_trip():
    text = json.dumps(WHISPER_BASE.to_json())
    assert EncoderRef.from_json(json.loads(text)) == WHISPER_BASE
    assert json.loads(text) == {
        "name": "Systran/faster-whisper-base",
        "revision": WHISPER_BASE.revision,
        "sha256": WHISPER_BASE.sha256,
        "size": 145_217_532,
    }


@pytest.mark.parametrize(
    "data",
    [
        {"name": "Systran/faster-whisper-base", "revision": "x", "sha256": "y"},
        {"name": "Systran/faster-whisper-base", "revision": "x", "sha256": "y", "size": "big"},
    ],
)
def test_an_incomplete_encoder_reference_is_refused(data):
    with pytest.raises(EncoderError, match="incomplete"):
        EncoderRef.from_json(data)


# --- CTranslate2's container ---------------------------------------------------------------------

_CODES = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3}
_CODES[np.dtype(np.float16)] = 4


def _text(s: str) -> bytes:
    raw = s.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _model_bin(tensors: dict[str, np.ndarray], *, version: int = 6) -> bytes:
    """A CTranslate2 model.bin as the converter writes it: header, named tensors, (no) aliases."""
    out = struct.pack("<I", version) + _text("WhisperSpec") + struct.pack("<I", 3) + struct.pack("<I", len(tensors))
    for name, a in tensors.items():
        out += _text(name) + struct.pack("<B", a.ndim) + b"".join(struct.pack("<I", d) for d in a.shape)
        out += struct.pack("<B", _CODES[a.dtype]) + struct.pack("<I", a.nbytes) + a.tobytes()
    return out + struct.pack("<I", 0)


def test_parser_reads_encoder_tensors_by_name_shape_and_type(rng):
    kernel = rng.standard_normal((4, 3, 2)).astype(np.float16)
    data = _model_bin(
        {
            "encoder/conv1/weight": kernel,
            "encoder/num_heads": np.array(8, dtype=np.int32),
            "decoder/embeddings/weight": rng.standard_normal((5, 2)).astype(np.float32),
            "encoder/layer_0/scale": np.arange(6, dtype=np.int8).reshape(2, 3),
        }
    )
    tensors = parse_ctranslate2(data, prefix="encoder/")
    assert set(tensors) == {"conv1/weight", "num_heads", "layer_0/scale"}
    assert tensors["conv1/weight"].dtype == np.float32  # float16 weights are widened
    np.testing.assert_array_equal(tensors["conv1/weight"], kernel.astype(np.float32))
    assert tensors["num_heads"].shape == () and int(tensors["num_heads"]) == 8
    assert tensors["layer_0/scale"].dtype == np.int8
    np.testing.assert_array_equal(tensors["layer_0/scale"], [[0, 1, 2], [3, 4, 5]])
    assert set(parse_ctranslate2(data)) >= {"decoder/embeddings/weight", "encoder/conv1/weight"}


def test_parser_refuses_another_format_version():
    with pytest.raises(EncoderError, match="binary version 5"):
        parse_ctranslate2(_model_bin({"encoder/x": np.zeros(2, np.float32)}, version=5))


def test_parser_refuses_a_cut_off_file_with_an_encoder_error(rng):
    data = _model_bin({"encoder/x": rng.standard_normal((64, 64)).astype(np.float32)})
    with pytest.raises(EncoderError, match="not a readable CTranslate2 model"):
        parse_ctranslate2(data[: len(data) // 2], prefix="encoder/")

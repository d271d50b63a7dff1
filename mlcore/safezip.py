"""One safe way to open a zip someone else made: path rules, size and ratio caps, overlapping entries.

Used by every unpacker in serweb (uploaded recordings, uploaded model bundles, downloaded corpora), so
the three agree on what is refused.  What a zip may not do:

- name a path that leaves the destination (absolute, a drive letter, ``..``, backslashes that become
  separators, NUL) or hold a symbolic link or an encrypted entry;
- unpack a member to more than ``max_member_bytes``, or all members to more than ``max_total_bytes``;
- compress a member more than ``max_ratio`` times (above ``ratio_floor_bytes``: a short silent WAV
  compresses very well and is harmless);
- let two entries share data.  A "quoted-overlap" zip bomb (Fifield, 2019) points many central-directory
  entries at overlapping ranges of one compressed kernel, so a few MB unpack to GBs while every member
  looks ordinary.  Each entry's byte range (local header, name, extra field, compressed data) is read
  from the archive and the ranges must not overlap.

Declared sizes are never trusted on their own: ``read_member`` counts the bytes it actually yields.
Every refusal is a ``ZipSafetyError`` whose ``code`` (a ``ZipRefusal``) says which rule refused it, so
callers decide on the code, never on the wording of the message.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from mlcore.errors import MlcoreError

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")  # 30 bytes, signature PK\x03\x04
_CHUNK = 1 << 16
# What zipfile, zlib and bz2/lzma raise on damaged member data.
DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError)


class ZipRefusal(StrEnum):
    """Which rule refused an archive or a member."""

    DAMAGED = "damaged"
    TOO_MANY_ENTRIES = "too_many_entries"
    OVERLAP = "overlap"
    UNSAFE_PATH = "unsafe_path"
    LINK = "link"
    ENCRYPTED = "encrypted"
    RATIO = "ratio"
    MEMBER_TOO_BIG = "member_too_big"
    TOTAL_TOO_BIG = "total_too_big"
    OUTSIDE = "outside"


class ZipSafetyError(MlcoreError):
    """The archive (or one member of it) is refused; the message says why, ``code`` which rule."""

    def __init__(self, message: str, *, code: ZipRefusal) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ZipLimits:
    max_member_bytes: int = 2**31
    max_total_bytes: int = 2**32
    max_ratio: int = 100
    ratio_floor_bytes: int = 1024 * 1024
    max_members: int = 100_000


def unsafe_path_reason(name: str) -> str:
    """'' when ``name`` is a safe relative path inside an archive, else why it is not."""
    if not name.strip() or "\x00" in name:
        return "has an unsafe path (empty or with a NUL byte)"
    slashed = name.replace("\\", "/")
    parts = PurePosixPath(slashed).parts
    if slashed.startswith("/") or re.match(r"^[A-Za-z]:", slashed):
        return "has an unsafe path (absolute)"
    if ".." in parts:
        return "has an unsafe path (climbing out with '..')"
    return ""


def is_symlink(info: zipfile.ZipInfo) -> bool:
    return (info.external_attr >> 16) & 0o170000 == 0o120000


def is_junk(name: str) -> bool:
    """macOS resource forks and Finder files that zip tools add beside the real files."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return "__MACOSX" in parts or (bool(parts) and parts[-1].startswith("._")) or name.endswith(".DS_Store")


def overlapping_entries(zf: zipfile.ZipFile, fileobj: BinaryIO) -> list[str]:
    """Names of entries whose data range overlaps another entry's (empty for an honest archive).

    ``fileobj`` is the archive ``zf`` reads; its position is restored afterwards.
    """
    ranges: list[tuple[int, int, str]] = []
    position = fileobj.tell()
    try:
        for info in zf.infolist():
            fileobj.seek(info.header_offset)
            header = fileobj.read(_LOCAL_HEADER.size)
            if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
                raise ZipSafetyError(
                    f"The archive entry {info.filename[:100]!r} has no local header; the zip is damaged.",
                    code=ZipRefusal.DAMAGED,
                )
            fields = _LOCAL_HEADER.unpack(header)
            start = info.header_offset
            end = start + _LOCAL_HEADER.size + fields[9] + fields[10] + info.compress_size
            ranges.append((start, end, info.filename))
    finally:
        fileobj.seek(position)
    ranges.sort()
    bad: set[str] = set()
    furthest_end, furthest_name = -1, ""
    for start, end, name in ranges:
        if start < furthest_end:
            bad.update((name, furthest_name))
        if end > furthest_end:
            furthest_end, furthest_name = end, name
    return sorted(bad)


class SafeZip:
    """A zip opened for unpacking under ``limits``; use as a context manager.

    Opening refuses (``ZipSafetyError``) archives that cannot be read, hold too many entries, or whose
    entries overlap.  ``problem(info)`` says why a single member is refused ('' when it is fine);
    ``read_member`` streams it with the actual byte counts enforced.
    """

    def __init__(self, source: str | Path | BinaryIO, limits: ZipLimits | None = None) -> None:
        self.limits = limits or ZipLimits()
        self._own = isinstance(source, (str, Path))
        self._fileobj: BinaryIO = open(source, "rb") if self._own else source  # noqa: SIM115
        try:
            self.zf = zipfile.ZipFile(self._fileobj)
        except (*DAMAGED, struct.error) as e:
            self._close_own()
            raise ZipSafetyError(
                "The zip archive is damaged or incomplete and could not be opened.", code=ZipRefusal.DAMAGED
            ) from e
        try:
            infos = self.zf.infolist()
            if len(infos) > self.limits.max_members:
                raise ZipSafetyError(
                    f"The zip archive holds {len(infos)} entries; at most {self.limits.max_members} are accepted.",
                    code=ZipRefusal.TOO_MANY_ENTRIES,
                )
            if overlapping_entries(self.zf, self._fileobj):
                raise ZipSafetyError(
                    "The zip archive's entries overlap (two entries share the same compressed data), a trick "
                    "used by zip bombs; it is refused. Create the archive again with an ordinary zip tool.",
                    code=ZipRefusal.OVERLAP,
                )
        except BaseException:
            self.close()
            raise
        self.unpacked = 0  # bytes yielded by read_member so far, over all members

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.zf.close()
        self._close_own()

    def _close_own(self) -> None:
        if self._own:
            self._fileobj.close()

    def files(self) -> list[zipfile.ZipInfo]:
        """The file entries (no folders, no macOS junk), in archive order."""
        return [i for i in self.zf.infolist() if not i.is_dir() and not is_junk(i.filename)]

    def declared_total(self) -> int:
        return sum(i.file_size for i in self.files())

    def problem(self, info: zipfile.ZipInfo) -> ZipSafetyError | None:
        """Why this member is refused (the error, not raised: its message is a sentence for a person,
        its ``code`` the rule); None when it may be unpacked."""
        reason = unsafe_path_reason(info.filename)
        if reason:
            return ZipSafetyError(f"Refused: the archive entry {reason}.", code=ZipRefusal.UNSAFE_PATH)
        if is_symlink(info):
            return ZipSafetyError("Refused: the archive entry is a symbolic link, not a file.", code=ZipRefusal.LINK)
        if info.flag_bits & 0x1:
            return ZipSafetyError("Refused: the archive entry is encrypted.", code=ZipRefusal.ENCRYPTED)
        limits = self.limits
        if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            return ZipSafetyError(
                f"Refused: the archive entry is compressed {info.file_size / max(info.compress_size, 1):.0f} "
                "times, far more than any recording compresses (a zip bomb?).",
                code=ZipRefusal.RATIO,
            )
        return None

    def read_member(self, info: zipfile.ZipInfo, *, max_bytes: int | None = None) -> Iterator[bytes]:
        """The member's bytes in chunks.  Raises ``ZipSafetyError`` when it is damaged or would pass
        ``max_bytes`` (default the member limit) or the archive's total limit."""
        cap = self.limits.max_member_bytes if max_bytes is None else max_bytes
        size = 0
        try:
            with self.zf.open(info) as member:
                while chunk := member.read(_CHUNK):
                    size += len(chunk)
                    self.unpacked += len(chunk)
                    if size > cap:
                        raise ZipSafetyError(
                            f"The archive entry unpacks to more than {cap / 2**20:g} MB.",
                            code=ZipRefusal.MEMBER_TOO_BIG,
                        )
                    if self.unpacked > self.limits.max_total_bytes:
                        raise self._total_too_big()
                    yield chunk
        except DAMAGED as e:
            raise ZipSafetyError(
                f"The archive entry could not be unpacked ({type(e).__name__}); the zip is damaged.",
                code=ZipRefusal.DAMAGED,
            ) from e

    def _total_too_big(self) -> ZipSafetyError:
        return ZipSafetyError(
            f"The zip archive unpacks to more than {self.limits.max_total_bytes / 2**20:g} MB.",
            code=ZipRefusal.TOTAL_TOO_BIG,
        )

    def extract_all(self, dest: Path, *, strip_prefix: str = "", keep: set[str] | None = None) -> list[Path]:
        """Unpack every file member (all refused if any member is) under ``dest``; returns the paths.

        ``strip_prefix`` is removed from member names (members outside it are skipped); with ``keep``,
        only members whose stripped name is in it are written.
        """
        dest = Path(dest)
        root = dest.resolve()
        planned: list[tuple[zipfile.ZipInfo, Path]] = []
        for info in self.files():
            refused = self.problem(info)
            if refused:
                raise ZipSafetyError(f"{info.filename[:200]!r}: {refused}", code=refused.code)
            if not info.filename.startswith(strip_prefix):
                continue
            rel = info.filename[len(strip_prefix) :].replace("\\", "/")
            if keep is not None and rel not in keep:
                continue
            target = root.joinpath(*PurePosixPath(rel).parts)
            if not target.resolve().is_relative_to(root):
                raise ZipSafetyError(
                    f"{info.filename[:200]!r} would land outside {dest}; refusing the archive.", code=ZipRefusal.OUTSIDE
                )
            planned.append((info, target))
        if sum(i.file_size for i, _ in planned) > self.limits.max_total_bytes:
            raise self._total_too_big()
        written = []
        for info, target in planned:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                for chunk in self.read_member(info):
                    out.write(chunk)
            written.append(target)
        return written

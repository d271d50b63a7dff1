"""The one rule for which zip members are safe to unpack (corpus archives, model bundles, uploads).

A member is unpacked only under its own relative path: backslashes count as separators (zips made on
Windows), and a path that is absolute (``/x``, ``\\x``, ``C:x``), climbs out with ``..`` or is empty is
refused, as is a member that is a symbolic link.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import PurePosixPath

_DRIVE = re.compile(r"^[A-Za-z]:")
_LINK = 0o120000


def member_path(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when unpacking it would leave the destination."""
    posix = name.replace("\\", "/")
    path = PurePosixPath(posix)
    if not posix.strip() or posix.startswith("/") or _DRIVE.match(posix) or ".." in path.parts:
        return None
    return path


def is_link(info: zipfile.ZipInfo) -> bool:
    """Whether the member is a symbolic link (Unix mode in the external attributes)."""
    return (info.external_attr >> 16) & 0o170000 == _LINK


def unsafe_member(info: zipfile.ZipInfo) -> str:
    """Why unpacking ``info`` would be unsafe, as a phrase for a message ("" when it is safe)."""
    if member_path(info.filename) is None:
        return "an unsafe path (absolute or climbing out with '..')"
    if is_link(info):
        return "a symbolic link, not a file"
    return ""

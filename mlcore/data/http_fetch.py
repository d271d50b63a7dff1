"""Resumable, verified HTTP downloads shared by the corpus downloaders.

``fetch`` streams a URL to ``<target>.part`` and renames it once every announced byte has arrived; an
interrupted transfer keeps the ``.part`` and the next call resumes it with an HTTP Range request.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from mlcore.errors import DownloadError

CHUNK_BYTES = 1 << 16
USER_AGENT = "serweb-mlcore/0.1 (+https://zenodo.org/records/1188976)"


def fetch(
    url: str,
    target: Path,
    *,
    timeout_s: float = 60.0,
    progress: bool = True,
    on_bytes: Callable[[int], None] | None = None,
    mirror_option: str | None = "--url-base",
) -> int:
    """Download ``url`` to ``target`` through ``target.part``, resuming a partial one.  Returns the size.

    Keeps ``.part`` and raises ``DownloadError`` when the transfer breaks; renames it to ``target`` only
    once every announced byte has arrived.  ``on_bytes``, when given, replaces the file's own progress bar:
    it is called with the byte count of every block (and of a partial file that is resumed), so callers
    fetching many files can keep one bar.  ``mirror_option`` is the option a user would fix in the error
    messages (``None``: there is none).
    """
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = build_request(url)
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as e:
        total = _total_from_content_range(e.headers.get("Content-Range"))
        if e.code == 416 and have and total == have:
            # Everything had already arrived; only the rename was missing.
            if on_bytes:
                on_bytes(have)
            part.replace(target)
            return have
        if e.code == 416:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"The server refused to resume {target.name} (the partial file did not fit); it was deleted. "
                "Run the same command again to download afresh."
            ) from None
        check = f" Check {mirror_option}." if mirror_option else ""
        raise DownloadError(f"Downloading {url} failed: HTTP {e.code} {e.reason}.{check}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", e)
        network = f"the network (or {mirror_option})" if mirror_option else "the network"
        raise DownloadError(
            f"Cannot reach {url} ({reason}). Check {network}, then run the same command again"
            + (f" to resume from {_mb(have)}." if have else ".")
        ) from None
    with response:
        if have and response.status == 206:
            start = _start_from_content_range(response.headers.get("Content-Range"))
            if start != have:
                part.unlink()
                raise DownloadError(
                    f"The server resumed {target.name} at byte {start}, not {have}; the partial file was deleted, "
                    "run the same command again to download afresh."
                )
            total = _total_from_content_range(response.headers.get("Content-Range"))
            mode = "ab"
            if on_bytes:
                on_bytes(have)
        else:
            # 200 to a Range request: the server sends the whole file, so start over.
            have, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        _stream(response, part, mode=mode, have=have, total=total, progress=progress, on_bytes=on_bytes)
    size = part.stat().st_size
    if total is not None and size != total:
        raise DownloadError(
            f"Download of {target.name} interrupted after {_mb(size)} of {_mb(total)}; "
            "run the same command again to resume."
        )
    part.replace(target)
    return size


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file with a ``hashlib`` algorithm (``"md5"``, ``"sha256"``), read in chunks."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def _stream(
    response: http.client.HTTPResponse,
    part: Path,
    *,
    mode: str,
    have: int,
    total: int | None,
    progress: bool,
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    """Append (``mode="ab"``) or write the response body to ``part``; a broken read keeps what arrived.

    Progress goes to a bar of its own, or to ``on_bytes`` when the caller keeps one for many files.
    """
    from tqdm import tqdm

    with (
        part.open(mode) as out,
        tqdm(
            total=total,
            initial=have,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=part.name.removesuffix(".part"),
            file=sys.stderr,
            disable=not progress or on_bytes is not None,
        ) as bar,
    ):
        report = on_bytes or bar.update
        while True:
            try:
                block = response.read(CHUNK_BYTES)
            except (OSError, http.client.HTTPException) as e:  # reset, timeout, IncompleteRead
                raise DownloadError(
                    f"Download of {part.name.removesuffix('.part')} interrupted after {_mb(out.tell())}"
                    + (f" of {_mb(total)}" if total else "")
                    + f" ({type(e).__name__}); run the same command again to resume."
                ) from None
            if not block:
                return
            out.write(block)
            report(len(block))


def build_request(url: str, headers: dict[str, str] | None = None) -> urllib.request.Request:
    """A GET request for ``url`` carrying serweb's User-Agent (and any extra ``headers``)."""
    return urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})


def _start_from_content_range(value: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/", value or "")
    return int(match.group(1)) if match else None


def _total_from_content_range(value: str | None) -> int | None:
    match = re.match(r"bytes [\d*-]+/(\d+)", value or "")
    return int(match.group(1)) if match else None


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"

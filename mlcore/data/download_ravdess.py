"""RAVDESS from Zenodo: the archives, resumably fetched, verified and unpacked safely.

Each archive is streamed to ``DEST/<name>.part`` (``mlcore.data.http_fetch.fetch``); an interrupted transfer
keeps the ``.part`` and the next run resumes it with an HTTP Range request (a server that answers 200
instead of 206 makes us start over).  A finished archive must have the announced size, open as a zip
whose members all pass their CRC, and match its md5 when one is known (``--md5`` or Zenodo's record
API, fetched best-effort).  Members are unpacked into DEST only if none is absolute or climbs out
with ``..``; ``__MACOSX`` resource forks are skipped.  A marker file makes a finished archive a no-op
next time.
"""

from __future__ import annotations

import http.client
import json
import re
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from mlcore.data.http_fetch import build_request, fetch, file_digest
from mlcore.errors import DownloadError

RECORD_ID = "1188976"
ZENODO_URL_BASE = f"https://zenodo.org/records/{RECORD_ID}/files"
ZENODO_API_URL = f"https://zenodo.org/api/records/{RECORD_ID}"
SPEECH_ARCHIVE = "Audio_Speech_Actors_01-24.zip"
SONG_ARCHIVE = "Audio_Song_Actors_01-24.zip"
_MD5_RE = re.compile(r"^[0-9a-f]{32}$")


def archive_names(*, song: bool = False) -> list[str]:
    """The Zenodo archives to fetch: speech, plus song when asked."""
    return [SPEECH_ARCHIVE, SONG_ARCHIVE] if song else [SPEECH_ARCHIVE]


def parse_md5_args(values: list[str], *, names: list[str]) -> dict[str, str]:
    """``["NAME=HEX", ...]`` (or one bare ``HEX`` for a single archive) -> ``{name: hex}``."""
    result: dict[str, str] = {}
    for value in values:
        name, sep, digest = value.rpartition("=")
        if not sep:
            if len(names) != 1:
                raise DownloadError(f"--md5 {value}: say which archive it is for, e.g. --md5 {names[0]}={value}.")
            name = names[0]
        digest = digest.strip().lower().removeprefix("md5:")
        if name not in names:
            raise DownloadError(f"--md5 names {name!r}, which is not being downloaded ({', '.join(names)}).")
        if not _MD5_RE.match(digest):
            raise DownloadError(f"--md5 {value}: an md5 is 32 hexadecimal digits.")
        result[name] = digest
    return result


def download_ravdess(
    dest: str | Path,
    *,
    names: list[str],
    url_base: str = ZENODO_URL_BASE,
    api_url: str | None = ZENODO_API_URL,
    md5: dict[str, str] | None = None,
    keep_archives: bool = False,
    timeout_s: float = 60.0,
    progress: bool = True,
) -> list[Path]:
    """Fetch, verify and unpack each archive in ``names`` into ``dest``; returns the Actor_XX folders.

    An archive whose marker exists is skipped without touching the network.  md5s in ``md5`` win over
    those from ``api_url``.  Raises ``DownloadError`` with what to do next.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    pending = [n for n in names if not _marker(dest, n).exists()]
    known = dict(fetch_checksums(api_url, timeout_s=min(timeout_s, 15.0))) if pending and api_url else {}
    known.update(md5 or {})
    for name in pending:
        archive = dest / name
        if archive.exists():
            # Kept from an earlier run (--keep-archives, or unpacking failed): reuse it if it verifies.
            try:
                verify_archive(archive, size=None, md5=known.get(name))
            except DownloadError:
                archive.unlink()
        if not archive.exists():
            size = fetch(f"{url_base.rstrip('/')}/{name}?download=1", archive, timeout_s=timeout_s, progress=progress)
            try:
                verify_archive(archive, size=size, md5=known.get(name))
            except DownloadError as e:
                archive.unlink()
                raise DownloadError(
                    f"{e} The file was deleted; run the same command again to download it afresh."
                ) from None
        try:
            files = extract_zip(archive, dest)
        except DownloadError:
            archive.unlink()  # verified but unsafe: not the official archive, never reuse it
            raise
        _marker(dest, name).write_text(json.dumps({"archive": name, "md5": known.get(name), "files": files}))
        if not keep_archives:
            archive.unlink()
    return sorted(p for p in dest.glob("Actor_*") if p.is_dir())


def fetch_checksums(api_url: str, *, timeout_s: float = 15.0) -> dict[str, str]:
    """``{file name: md5}`` from a Zenodo record API answer; ``{}`` (with a note) when unreachable."""
    try:
        with urllib.request.urlopen(build_request(api_url), timeout=timeout_s) as response:
            record = json.load(response)
        return {
            f["key"]: f["checksum"].removeprefix("md5:").lower()
            for f in record.get("files", [])
            if str(f.get("checksum", "")).startswith("md5:")
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError, http.client.HTTPException) as e:
        print(f"note: no checksums from {api_url} ({e}); checking size and zip integrity only.", file=sys.stderr)
        return {}


def verify_archive(path: Path, *, size: int | None, md5: str | None) -> None:
    """Raise ``DownloadError`` unless ``path`` has ``size`` bytes, is a sound zip and matches ``md5``.

    ``size``/``md5`` of ``None`` skip that check.  The caller decides what happens to a bad file.
    """
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise DownloadError(f"{path.name} is {actual} bytes but the server announced {size}.")
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except Exception as e:  # zipfile raises BadZipFile, zlib.error, EOFError, OSError... for damaged data
        raise DownloadError(f"{path.name} is not a valid zip ({e}).") from None
    if bad is not None:
        raise DownloadError(f"{path.name} is corrupt (member {bad} fails its CRC).")
    if md5:
        digest = file_md5(path)
        if digest != md5.lower():
            raise DownloadError(f"{path.name} has md5 {digest} but {md5} was expected (check --md5 if you gave one).")


def file_md5(path: Path) -> str:
    """Hex md5 of a file, read in chunks."""
    return file_digest(path, "md5")


def extract_zip(archive: Path, dest: Path) -> int:
    """Unpack ``archive`` into ``dest`` through ``mlcore.safezip`` (the rules every serweb unpacker
    shares: no absolute or ``..`` paths, links, overlapping entries or runaway sizes; macOS junk
    skipped).  A refused member refuses the archive before anything is written.  Returns the number of
    files written.
    """
    from mlcore.safezip import SafeZip, ZipLimits, ZipSafetyError

    limits = ZipLimits(max_member_bytes=2**32, max_total_bytes=2**38, max_ratio=10_000)
    try:
        with SafeZip(archive, limits) as zf:
            return len(zf.extract_all(dest))
    except ZipSafetyError as e:
        raise DownloadError(f"{archive.name}: {e} Download from the official Zenodo record.") from None


def _marker(dest: Path, name: str) -> Path:
    return dest / f".{name}.unpacked"

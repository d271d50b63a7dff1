"""``python -m mlcore download DEST``: fetch RAVDESS from Zenodo, resumably, verified, unpacked safely.

Each archive is streamed to ``DEST/<name>.part``; an interrupted transfer keeps the ``.part`` and the
next run resumes it with an HTTP Range request (a server that answers 200 instead of 206 makes us
start over).  A finished archive must have the announced size, open as a zip whose members all pass
their CRC, and match its md5 when one is known (``--md5`` or Zenodo's record API, fetched
best-effort).  Members are unpacked into DEST only if none is absolute or climbs out with ``..``;
``__MACOSX`` resource forks are skipped.  A marker file makes a finished archive a no-op next time.

``--corpus crema-d`` hands over to ``mlcore.data.download_crema``, which fetches clip by clip through the same
``fetch`` (resume, progress) and checks each clip's sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import re
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from mlcore.errors import DownloadError

RECORD_ID = "1188976"
ZENODO_URL_BASE = f"https://zenodo.org/records/{RECORD_ID}/files"
ZENODO_API_URL = f"https://zenodo.org/api/records/{RECORD_ID}"
SPEECH_ARCHIVE = "Audio_Speech_Actors_01-24.zip"
SONG_ARCHIVE = "Audio_Song_Actors_01-24.zip"
CHUNK_BYTES = 1 << 16
USER_AGENT = "serweb-mlcore/0.1 (+https://zenodo.org/records/1188976)"
_MD5_RE = re.compile(r"^[0-9a-f]{32}$")


def add_arguments_download(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dest", type=Path, help="folder to write into (RAVDESS: Actor_XX folders; CREMA-D: one folder per actor)"
    )
    parser.add_argument(
        "--corpus",
        choices=("ravdess", "crema-d"),
        default="ravdess",
        help="ravdess (Zenodo archives) or crema-d (GitHub Git LFS, clip by clip); default: %(default)s",
    )
    parser.add_argument("--actors", help="CREMA-D only: actors to fetch, e.g. 1001-1010 or 1001,1005 (default: all)")
    parser.add_argument("--jobs", type=int, default=4, help="CREMA-D only: clips fetched at once (default: 4)")
    parser.add_argument("--song", action="store_true", help=f"RAVDESS: also fetch the song archive ({SONG_ARCHIVE})")
    parser.add_argument(
        "--url-base", default=ZENODO_URL_BASE, help="where the archives live (a mirror); default: %(default)s"
    )
    parser.add_argument(
        "--api-url",
        default=ZENODO_API_URL,
        help="Zenodo record API listing md5 checksums, fetched best-effort; '' to skip. Default: %(default)s",
    )
    parser.add_argument(
        "--md5",
        action="append",
        default=[],
        metavar="[NAME=]HEX",
        help="expected md5 of an archive (bare HEX when fetching one archive); overrides the API's",
    )
    parser.add_argument("--keep-archives", action="store_true", help="keep the .zip files after unpacking")
    parser.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_download(args: argparse.Namespace) -> int:
    if args.corpus == "crema-d":
        from mlcore.data.download_crema import run_download_crema

        return run_download_crema(args)
    if args.actors is not None:
        raise DownloadError("--actors is for CREMA-D; RAVDESS comes as one archive holding all 24 actors.")
    names = archive_names(song=args.song)
    folders = download_ravdess(
        args.dest,
        names=names,
        url_base=args.url_base,
        api_url=args.api_url or None,
        md5=parse_md5_args(args.md5, names=names),
        keep_archives=args.keep_archives,
        timeout_s=args.timeout,
        progress=not args.quiet,
    )
    print(f"RAVDESS ready in {args.dest} ({len(folders)} Actor_XX folders).")
    return 0


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


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file with a ``hashlib`` algorithm (``"md5"``, ``"sha256"``), read in chunks."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


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


def _marker(dest: Path, name: str) -> Path:
    return dest / f".{name}.unpacked"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"

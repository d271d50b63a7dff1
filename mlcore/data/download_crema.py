"""``python -m mlcore download DEST --corpus crema-d``: CREMA-D's clips from its authors' GitHub repository.

CREMA-D (github.com/CheyneyComputerScience/CREMA-D, ODbL) keeps its 7442 clips in ``AudioWAV/`` under
Git LFS.  One call to GitHub's tree API lists them; each clip's LFS pointer (the raw file: sha256 and
size, itself checked against the tree's git blob hash) says what the WAV from the LFS media URL must
be.  Clips land in ``DEST/<actor>/<name>.wav`` through ``mlcore.data.http_fetch.fetch`` (a ``.part`` file
resumed with HTTP Range, as for RAVDESS), a few at a time under one progress bar (clips done, bytes downloaded).  A clip already in
DEST that matches its pointer is kept; one that does not is fetched again; one that fails does not stop
the others, and the failures are listed at the end.  The listing and the pointers are cached in
``DEST/.crema-d.json``, so running the command again fetches only what is missing, and a finished
download is checked without the network.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import re
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mlcore.data.corpora import CREMA_ACTORS, parse_crema_name
from mlcore.data.download_ravdess import ZENODO_API_URL, ZENODO_URL_BASE
from mlcore.data.http_fetch import build_request, fetch, file_digest
from mlcore.errors import DatasetError, DownloadError

REPO = "CheyneyComputerScience/CREMA-D"
TREE_URL = f"https://api.github.com/repos/{REPO}/git/trees/master?recursive=1"
POINTER_URL_BASE = f"https://raw.githubusercontent.com/{REPO}/master/AudioWAV"
MEDIA_URL_BASE = f"https://media.githubusercontent.com/media/{REPO}/master/AudioWAV"
AUDIO_FOLDER = "AudioWAV"
CACHE_NAME = ".crema-d.json"
MAX_LISTED_FAILURES = 10
_OID_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class LfsPointer:
    """What a Git LFS pointer promises: the object's sha256 and size in bytes."""

    oid: str
    size: int


@dataclass(frozen=True)
class CremaSummary:
    """A finished CREMA-D download: clips fetched now, clips already there and verified, names refused."""

    fetched: int
    kept: int
    refused: tuple[str, ...]


def run_download_crema(args: argparse.Namespace) -> int:
    ravdess_only = {
        "--song": args.song,
        "--md5": args.md5,
        "--keep-archives": args.keep_archives,
        "--url-base": args.url_base != ZENODO_URL_BASE,
        "--api-url": args.api_url != ZENODO_API_URL,
    }
    if given := [option for option, used in ravdess_only.items() if used]:
        raise DownloadError(f"{', '.join(given)}: RAVDESS options; leave them out with --corpus crema-d.")
    # Module constants read at call time, so tests (or a mirror) can point them elsewhere.
    summary = download_crema(
        args.dest,
        actors=parse_crema_actors(args.actors) if args.actors else None,
        tree_url=TREE_URL,
        pointer_url_base=POINTER_URL_BASE,
        media_url_base=MEDIA_URL_BASE,
        jobs=args.jobs,
        timeout_s=args.timeout,
        progress=not args.quiet,
    )
    print(
        f"CREMA-D ready in {args.dest} ({summary.fetched + summary.kept} clips: {summary.fetched} downloaded, "
        f"{summary.kept} already there). CREMA-D is licensed ODbL: attribute Cao et al. (2014)."
    )
    return 0


def parse_crema_actors(text: str) -> set[int]:
    """``"1001-1010"`` -> {1001, ..., 1010}; ``"1001,1005-1006"`` -> {1001, 1005, 1006}.  Actors are 1001..1091."""
    actors: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        lo, hi = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (0, -1)
        if match is None or lo > hi or lo not in CREMA_ACTORS or hi not in CREMA_ACTORS:
            raise DownloadError(
                f"Cannot read actors {text!r} at {part!r}: CREMA-D actors are 1001 to 1091, "
                "given as numbers or ranges like 1001-1010."
            )
        actors.update(range(lo, hi + 1))
    return actors


def download_crema(
    dest: str | Path,
    *,
    actors: set[int] | None = None,
    tree_url: str = TREE_URL,
    pointer_url_base: str = POINTER_URL_BASE,
    media_url_base: str = MEDIA_URL_BASE,
    jobs: int = 4,
    timeout_s: float = 60.0,
    progress: bool = True,
) -> CremaSummary:
    """Fetch and verify CREMA-D's clips (or ``actors``' only) into ``dest/<actor>/<name>.wav``.

    Every clip is tried; when any failed, raises ``DownloadError`` listing them after the others are
    done (running again fetches only what is missing).  Names in the listing that are not CREMA-D clip
    names are never written; they are reported in ``CremaSummary.refused``.
    """
    from tqdm import tqdm

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    cache = _load_cache(dest)
    blobs: dict[str, str] = cache.get("blobs") or {}
    refused: list[str] = []
    if not blobs:
        blobs, refused = clip_blobs(fetch_tree(tree_url, timeout_s=timeout_s))
        if refused:
            print(f"note: not CREMA-D clip names, not downloaded: {', '.join(refused)}", file=sys.stderr)
    names = sorted(n for n in blobs if actors is None or int(n[:4]) in actors)
    if missing := sorted(set(actors or ()) - {int(n[:4]) for n in names}):
        raise DownloadError(f"The CREMA-D listing has no clips for actors {', '.join(map(str, missing))}.")
    pointers: dict[str, LfsPointer] = {n: LfsPointer(**p) for n, p in (cache.get("pointers") or {}).items()}
    lock = threading.Lock()
    received = [0]  # bytes that arrived, shown beside the bar of clips

    def count(n: int) -> None:
        with lock:
            received[0] += n

    def get(name: str) -> bool:
        pointer = pointers.get(name)
        if pointer is None:
            pointer = fetch_pointer(f"{pointer_url_base.rstrip('/')}/{name}", blob=blobs[name], timeout_s=timeout_s)
            with lock:
                pointers[name] = pointer
        return get_clip(
            f"{media_url_base.rstrip('/')}/{name}", dest / name[:4] / name, pointer, on_bytes=count, timeout_s=timeout_s
        )

    failed: dict[str, str] = {}
    fetched = 0
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    bar = tqdm(total=len(names), unit="clip", desc="CREMA-D", file=sys.stderr, disable=not progress)
    try:
        futures = {pool.submit(get, name): name for name in names}
        for future in as_completed(futures):
            try:
                fetched += future.result()
            except DownloadError as e:
                failed[futures[future]] = str(e)
            except OSError as e:  # disk full, permissions: this clip failed, the others may not
                failed[futures[future]] = f"{type(e).__name__}: {e}"
            bar.set_postfix_str(
                f"{tqdm.format_sizeof(received[0], 'B', 1024)} downloaded"
                + (f", {len(failed)} failed" if failed else ""),
                refresh=False,
            )
            bar.update(1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: finish the clips in flight, start no more
        bar.close()
        _save_cache(dest, blobs=blobs, pointers=pointers)
    if failed:
        raise DownloadError(_failure_message(failed, total=len(names), dest=dest))
    return CremaSummary(fetched=fetched, kept=len(names) - fetched, refused=tuple(refused))


def fetch_tree(url: str, *, timeout_s: float = 60.0) -> dict:
    """GitHub's recursive tree answer (JSON) for the CREMA-D repository."""
    request = build_request(url, {"Accept": "application/vnd.github+json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            tree = json.load(response)
    except urllib.error.HTTPError as e:
        limit = " GitHub allows 60 API calls an hour without a token; wait a while." if e.code in (403, 429) else ""
        raise DownloadError(
            f"Cannot list CREMA-D's clips from {url}: HTTP {e.code} {e.reason}.{limit} Then run the same command again."
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(
            f"Cannot list CREMA-D's clips from {url} ({reason}). Check the network, then run the same command again."
        ) from None
    if not isinstance(tree, dict) or not isinstance(tree.get("tree"), list):
        raise DownloadError(f"{url} did not answer with a git tree; is GitHub's API reachable from here?")
    if tree.get("truncated"):
        print("note: GitHub truncated the CREMA-D file list; some clips may be missing.", file=sys.stderr)
    return tree


def clip_blobs(tree: dict) -> tuple[dict[str, str], list[str]]:
    """``({clip name: git blob sha}, refused paths)`` for the ``AudioWAV/*.wav`` files of a git tree.

    Only plain names directly in ``AudioWAV/`` are taken, so nothing can be written outside DEST; those
    that ``parse_crema_name`` rejects are refused.
    """
    blobs: dict[str, str] = {}
    refused: list[str] = []
    for entry in tree.get("tree", []):
        path = PurePosixPath(str(entry.get("path", "")))
        if entry.get("type") != "blob" or path.suffix.lower() != ".wav" or path.parent.parts[:1] != (AUDIO_FOLDER,):
            continue
        try:
            if path.parent != PurePosixPath(AUDIO_FOLDER):
                raise DatasetError("not directly in AudioWAV/")
            parse_crema_name(path.name)
        except DatasetError:
            refused.append(str(path))
            continue
        blobs[path.name] = str(entry.get("sha", ""))
    return blobs, refused


def fetch_pointer(url: str, *, blob: str = "", timeout_s: float = 60.0) -> LfsPointer:
    """Read the Git LFS pointer at ``url``; when ``blob`` (its git blob sha1 from the tree) is given, the
    pointer must match it.  Raises ``DownloadError``."""
    name = url.rsplit("/", 1)[-1]
    try:
        with urllib.request.urlopen(build_request(url), timeout=timeout_s) as response:
            data = response.read(1024)
    except urllib.error.HTTPError as e:
        raise DownloadError(f"The LFS pointer of {name} is not available: HTTP {e.code} {e.reason}.") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        raise DownloadError(f"Cannot reach {url} ({getattr(e, 'reason', e)}). Check the network.") from None
    pointer = parse_lfs_pointer(data, name=name)
    if blob and hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() != blob:
        raise DownloadError(f"The LFS pointer of {name} does not match the repository's listing.")
    return pointer


def parse_lfs_pointer(data: bytes, *, name: str = "file") -> LfsPointer:
    """``oid sha256:<hex>`` and ``size <n>`` from a Git LFS pointer file.  Raises ``DownloadError``."""
    fields = dict(line.partition(" ")[::2] for line in data.decode("utf-8", errors="replace").splitlines())
    oid = fields.get("oid", "").removeprefix("sha256:")
    size = fields.get("size", "")
    if not fields.get("version", "").startswith("https://git-lfs") or not _OID_RE.match(oid) or not size.isdigit():
        raise DownloadError(f"{name}: the raw file is not a Git LFS pointer (version, oid sha256:…, size).")
    return LfsPointer(oid=oid, size=int(size))


def get_clip(
    url: str,
    target: Path,
    pointer: LfsPointer,
    *,
    timeout_s: float = 60.0,
    on_bytes: Callable[[int], None] | None = None,
) -> bool:
    """Make ``target`` the verified clip: keep it if it matches ``pointer``, else fetch it from ``url``.
    Returns whether it was fetched.  A download that does not verify is deleted."""
    if target.exists():
        try:
            verify_clip(target, pointer)
            return False
        except DownloadError:
            target.unlink()
    part = target.with_name(target.name + ".part")
    if part.exists() and part.stat().st_size > pointer.size:
        part.unlink()  # more bytes than the clip has: not a prefix of it
    target.parent.mkdir(parents=True, exist_ok=True)
    fetch(url, target, timeout_s=timeout_s, progress=False, on_bytes=on_bytes, mirror_option=None)
    try:
        verify_clip(target, pointer)
    except DownloadError as e:
        target.unlink()
        raise DownloadError(f"{e} It was deleted.") from None
    return True


def verify_clip(path: Path, pointer: LfsPointer) -> None:
    """Raise ``DownloadError`` unless ``path`` has the pointer's size and sha256."""
    size = path.stat().st_size
    if size != pointer.size:
        raise DownloadError(f"{path.name} is {size} bytes but its LFS pointer says {pointer.size}.")
    digest = file_digest(path, "sha256")
    if digest != pointer.oid:
        raise DownloadError(f"{path.name} has sha256 {digest[:12]}… but its LFS pointer says {pointer.oid[:12]}….")


def _failure_message(failed: dict[str, str], *, total: int, dest: Path) -> str:
    lines = [f"  {name}: {why}" for name, why in sorted(failed.items())[:MAX_LISTED_FAILURES]]
    if len(failed) > MAX_LISTED_FAILURES:
        lines.append(f"  … and {len(failed) - MAX_LISTED_FAILURES} more")
    return (
        f"{len(failed)} of {total} CREMA-D clips failed (the other {total - len(failed)} are verified in {dest}):\n"
        + "\n".join(lines)
        + "\nRun the same command again to fetch the rest: verified clips are kept, partial ones resume."
    )


def _load_cache(dest: Path) -> dict:
    """The listing and pointers from an earlier run, or ``{}`` when absent or unreadable."""
    try:
        cache = json.loads((dest / CACHE_NAME).read_text())
        blobs = {n: s for n, s in cache["blobs"].items() if _is_clip_name(n)}
        pointers = {n: {"oid": str(p["oid"]), "size": int(p["size"])} for n, p in cache["pointers"].items()}
        sound = {n: p for n, p in pointers.items() if n in blobs and _OID_RE.match(p["oid"])}
        return {"blobs": blobs, "pointers": sound}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _save_cache(dest: Path, *, blobs: dict[str, str], pointers: dict[str, LfsPointer]) -> None:
    if not blobs:
        return
    body = {"blobs": blobs, "pointers": {n: {"oid": p.oid, "size": p.size} for n, p in sorted(pointers.items())}}
    tmp = dest / f"{CACHE_NAME}.tmp"
    tmp.write_text(json.dumps(body, indent=0))
    tmp.replace(dest / CACHE_NAME)


def _is_clip_name(name: str) -> bool:
    try:
        parse_crema_name(name)
    except DatasetError:
        return False
    return PurePosixPath(name).name == name and name.lower().endswith(".wav")

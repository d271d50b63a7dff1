"""``python -m mlcore download DEST [--corpus ravdess|crema-d]``: fetch a corpus, resumably and verified.

RAVDESS comes from Zenodo as archives (``mlcore.data.download_ravdess``); CREMA-D from GitHub clip by
clip, each checked against the sha256 of its Git LFS pointer (``mlcore.data.download_crema``).  Both
go through ``mlcore.data.http_fetch.fetch`` (resume, progress).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mlcore.data.download_ravdess import (
    SONG_ARCHIVE,
    ZENODO_API_URL,
    ZENODO_URL_BASE,
    archive_names,
    download_ravdess,
    parse_md5_args,
)
from mlcore.errors import DownloadError


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

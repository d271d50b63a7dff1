"""Where recordings live: Django's ``recordings`` storage (``STORAGES``), by stored name.

The local disk (``UPLOAD_ROOT``) by default; an S3-compatible bucket (django-storages, boto3) when
``AWS_STORAGE_BUCKET_NAME`` is set, so web and workers need not share a disk.  Everything that writes,
reads or removes a recording comes through here.  Objects are private: nothing here makes a URL; the
audio view streams ranges of them after its ownership check.

An upload is written and probed in a staging file under ``UPLOAD_ROOT/.incoming`` and then kept (moved
on the local disk, uploaded to the bucket).  A store that cannot be reached raises ``StoreUnavailable``,
an ``OSError``, so the tasks retry it as they retry a disk hiccup and never fail a file for it.
A staging file left behind by a web process killed mid-upload is removed once it is older than
``STAGING_MAX_AGE_S`` (looked for at most every ``STAGING_SWEEP_EVERY_S``, by the next upload).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

logger = logging.getLogger(__name__)
ALIAS = "recordings"
_CHUNK = 1 << 16
# No upload takes an hour (requests time out long before): an older staging file belongs to no request.
STAGING_MAX_AGE_S = 3600
STAGING_SWEEP_EVERY_S = 600
_staging_swept_at = 0.0


class StoreUnavailable(OSError):
    """The object store did not answer (or answered with a server error): worth another try."""


class LocalRecordings(FileSystemStorage):
    """The local disk, rooted at ``settings.UPLOAD_ROOT`` as it is now (tests point it elsewhere)."""

    @property
    def base_location(self) -> str:  # type: ignore[override]
        return str(settings.UPLOAD_ROOT)

    @property
    def location(self) -> str:  # type: ignore[override]
        return os.path.abspath(self.base_location)


def storage() -> Storage:
    return storages[ALIAS]


def is_local() -> bool:
    return isinstance(storage(), FileSystemStorage)


@contextmanager
def _store_errors() -> Iterator[None]:
    """Botocore's failures as OSErrors: a missing object is FileNotFoundError, the rest StoreUnavailable."""
    try:
        yield
    except Exception as e:
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(e, ClientError):
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(str(e)) from e
            raise StoreUnavailable(f"the object store refused a request: {code or e}") from e
        if isinstance(e, BotoCoreError):
            raise StoreUnavailable(f"the object store cannot be reached: {e}") from e
        raise


def check() -> str:
    """For ``/healthz/?deep=1``: "local disk", "ok" when the bucket answers within a few seconds, else
    "error: <type>" (never the exception's text, which may hold the endpoint's credentials)."""
    store = storage()
    if isinstance(store, FileSystemStorage):
        return "local disk"
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=store.endpoint_url,
        region_name=store.region_name,
        aws_access_key_id=store.access_key,
        aws_secret_access_key=store.secret_key,
        config=Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 1}),
    )
    try:
        client.head_bucket(Bucket=store.bucket_name)
        return "ok"
    except Exception as e:
        return f"error: {type(e).__name__}"


def staging_file(suffix: str) -> Path:
    """A fresh local path to write an upload to before it is kept (the folder is made)."""
    global _staging_swept_at
    folder = Path(settings.UPLOAD_ROOT) / ".incoming"
    folder.mkdir(parents=True, exist_ok=True)
    if time.time() - _staging_swept_at > STAGING_SWEEP_EVERY_S:
        _staging_swept_at = time.time()
        remove_stale_staging()
    return folder / f"{uuid.uuid4().hex}{suffix}"


def remove_stale_staging(*, older_than_s: float = STAGING_MAX_AGE_S) -> int:
    """Remove staging files older than ``older_than_s`` (left by a process that died mid-upload)."""
    folder = Path(settings.UPLOAD_ROOT) / ".incoming"
    cutoff = time.time() - older_than_s
    removed = 0
    for path in folder.glob("*") if folder.is_dir() else ():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:  # gone meanwhile, or not ours to remove: the next sweep looks again
            continue
    if removed:
        logger.warning("uploads: removed %d staging files left by interrupted uploads", removed)
    return removed


def keep(staging: Path, name: str) -> None:
    """Store the staged file as ``name`` (a generated, unused name); the staging file is gone after."""
    store = storage()
    try:
        if isinstance(store, FileSystemStorage):
            target = Path(store.path(name))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging, target)  # same filesystem: no second copy on a nearly full disk
            return
        with _store_errors(), open(staging, "rb") as handle:
            saved = store.save(name, File(handle, name=name))
        if saved != name:  # never expected with uuid names; a different key would lose the recording
            raise StoreUnavailable(f"the object store kept {saved!r} instead of {name!r}")
    finally:
        staging.unlink(missing_ok=True)


def exists(name: str) -> bool:
    with _store_errors():
        return bool(name) and storage().exists(name)


def size(name: str) -> int:
    """Bytes in the stored recording; FileNotFoundError when it is not stored."""
    if not name:
        raise FileNotFoundError("the recording is no longer stored")
    with _store_errors():
        store = storage()
        if isinstance(store, FileSystemStorage):
            return os.stat(store.path(name)).st_size
        return store.open(name, "rb").obj.content_length


def read(name: str, start: int, end: int) -> Iterator[bytes]:
    """Bytes ``start``..``end`` (inclusive) of the recording, in chunks; from the bucket as one ranged GET,
    so seeking in a long recording never downloads all of it."""
    store = storage()
    if isinstance(store, FileSystemStorage):
        with open(store.path(name), "rb") as handle:
            handle.seek(start)
            yield from _chunks(handle.read, end - start + 1)
        return
    with _store_errors():
        body = store.open(name, "rb").obj.get(Range=f"bytes={start}-{end}")["Body"]
    try:
        with _store_errors():
            yield from body.iter_chunks(_CHUNK)
    finally:
        body.close()


def _chunks(read_some, length: int) -> Iterator[bytes]:
    while length > 0:
        chunk = read_some(min(length, _CHUNK))
        if not chunk:
            break
        length -= len(chunk)
        yield chunk


@contextmanager
def local_copy(name: str) -> Iterator[Path]:
    """A local file holding the recording while the block runs: the stored file itself on the local
    disk, else a temporary copy downloaded from the bucket and removed afterwards."""
    if not name:
        raise FileNotFoundError("the recording is no longer stored")
    store = storage()
    if isinstance(store, FileSystemStorage):
        path = Path(store.path(name))
        if not path.is_file():
            raise FileNotFoundError(name)
        yield path
        return
    folder = tempfile.mkdtemp(prefix="serweb-recording-")
    try:
        path = Path(folder) / Path(name).name
        with _store_errors():
            store.open(name, "rb").obj.download_file(str(path))
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove(names: Iterable[str]) -> list[str]:
    """Remove stored recordings; returns the names that are gone now (removed, or already absent).
    One that could not be removed (the store down) is logged and left out, so a caller that records
    the removal can leave it for the next run."""
    store = storage()
    gone: list[str] = []
    for name in names:
        if not name:
            continue
        try:
            with _store_errors():
                store.delete(name)
        except FileNotFoundError:
            pass
        except OSError:
            logger.exception("could not remove a stored recording (%s)", name)
            continue
        gone.append(name)
    return gone


# --- decoded copies of long recordings ---------------------------------------------------------------
# A long recording's samples, decoded once per machine (mlcore.data.stream) and shared by every worker
# process on it: the survey writes it, the parts read their own minutes from it.  Local to the machine
# (the system's temporary folder), never in the store; removed when the file is merged or fails, and
# any left behind (a worker killed mid-file, parts merged on another machine) once older than this.
DECODED_MAX_AGE_S = 6 * 3600


def decoded_path(file_id: int, stored_name: str, sr: int) -> Path:
    """Where this machine keeps the decoded samples of a recording at ``sr`` Hz."""
    import hashlib

    digest = hashlib.sha256(stored_name.encode()).hexdigest()[:16]
    return _decoded_dir() / f"{file_id}-{digest}-{sr}.f32"


def decoded_copies(file_id: int) -> list[Path]:
    """This machine's decoded copies of a file."""
    return list(_decoded_dir().glob(f"{file_id}-*.f32"))


def forget_decoded(file_id: int) -> None:
    """Remove this machine's decoded copies of a file (its merge or failure)."""
    for path in decoded_copies(file_id):
        path.unlink(missing_ok=True)


def prune_decoded(*, now: float | None = None) -> None:
    """Remove decoded copies (and half-written ones) older than ``DECODED_MAX_AGE_S``."""
    cutoff = (now or time.time()) - DECODED_MAX_AGE_S
    for path in _decoded_dir().glob("*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        except OSError:  # removed by another process meanwhile
            continue


def _decoded_dir() -> Path:
    folder = Path(tempfile.gettempdir()) / "serweb-decoded"
    folder.mkdir(parents=True, exist_ok=True)
    return folder

"""Model bundles uploaded through the admin, for every worker node.

On one machine a bundle is unpacked under ``MODEL_ROOT`` and read from there.  With object storage on
(``AWS_STORAGE_BUCKET_NAME``), nodes share no disk: the checked zip is also kept in the bucket as
``bundles/<fingerprint>.zip``, and a node that lacks the unpacked bundle fetches it the first time it
needs it, unpacks it through the same safe reader into ``MODEL_ROOT/<fingerprint>`` and checks that its
manifest's fingerprint is the registered one before the model is loaded.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from mlcore.errors import BundleError
from predictions.models import ModelVersion
from predictions.pipeline import recordings

logger = logging.getLogger(__name__)
PREFIX = "bundles/"


def key(fingerprint: str) -> str:
    return f"{PREFIX}{fingerprint}.zip"


def publish(zip_source: Path | BinaryIO, fingerprint: str) -> None:
    """Keep a checked bundle zip in the bucket for the other nodes (nothing to do on the local disk)."""
    if recordings.is_local() or recordings.exists(key(fingerprint)):
        return
    staging = recordings.staging_file(".zip")
    if isinstance(zip_source, Path):
        shutil.copyfile(zip_source, staging)
    else:
        zip_source.seek(0)
        with open(staging, "wb") as out:
            shutil.copyfileobj(zip_source, out)
    recordings.keep(staging, key(fingerprint))


def local_path(version: ModelVersion) -> Path:
    """The version's unpacked bundle on this node: where it was registered, else ``MODEL_ROOT/<fingerprint>``,
    fetched from the bucket the first time.  Raises ``BundleError`` when the fetched bundle is not the
    registered one, and the store's ``OSError`` when it cannot be reached (the task retries)."""
    if version.path.is_dir():
        return version.path
    here = Path(settings.MODEL_ROOT) / version.fingerprint
    if here.is_dir() or recordings.is_local():
        return here if here.is_dir() else version.path  # a missing bundle fails to load, with its path
    from mlcore.serving.bundle import extract_bundle_zip, load_bundle

    unpacking = Path(settings.MODEL_ROOT) / f".{uuid.uuid4().hex}"
    try:
        with recordings.local_copy(key(version.fingerprint)) as zip_path:
            extract_bundle_zip(zip_path, unpacking)
        fetched = load_bundle(unpacking).fingerprint
        if fetched != version.fingerprint:
            raise BundleError(
                f"The bundle fetched for “{version}” has fingerprint {fetched[:12]}…, not the registered "
                f"{version.fingerprint[:12]}…; register it again."
            )
        try:
            os.replace(unpacking, here)
        except OSError:  # another process of this node unpacked it first
            if not here.is_dir():
                raise
        logger.info("model %s fetched from the object store into %s", version, here)
    finally:
        shutil.rmtree(unpacking, ignore_errors=True)
    return here

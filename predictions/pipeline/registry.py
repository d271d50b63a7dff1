"""The model registry: shipped bundles, registering and checking bundles, and the model loaded once
per process (the predictor cache the worker uses)."""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from mlcore.labels import EMOTIONS
from mlcore.models import DEFAULT_BUNDLE, FAST_BUNDLE
from predictions.models import ModelVersion
from predictions.pipeline import bundle_store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShippedBundle:
    """A model bundle that ships in the repository and is registered on set-up."""

    path: Path
    # Activated on set-up; exactly one shipped bundle is.  The others are registered only, for an admin
    # to switch to in the admin.
    active: bool


# Every bundle serweb ships, in the order set-up registers them (post_migrate on an empty registry,
# and `manage.py register_model --default`).
SHIPPED_BUNDLES: tuple[ShippedBundle, ...] = (
    ShippedBundle(DEFAULT_BUNDLE, active=True),
    ShippedBundle(FAST_BUNDLE, active=False),
)


def shipped_role(version: ModelVersion) -> str:
    """ "default" for the shipped bundle set-up activates, "fast" for the other shipped one, "" for a
    bundle an admin uploaded."""
    path = version.path.resolve()
    for shipped in SHIPPED_BUNDLES:
        if Path(shipped.path).resolve() == path:
            return "default" if shipped.active else "fast"
    return ""


def register_bundle(path: Path | str, *, activate: bool = False) -> tuple[ModelVersion, bool]:
    """Register the bundle at ``path`` (verified); the same bundle twice is a no-op.

    Returns ``(version, created)``.  The first version ever registered becomes active.
    """
    from mlcore.serving.bundle import load_bundle

    path = Path(path).resolve()
    bundle = load_bundle(path)
    with transaction.atomic():
        version = ModelVersion.objects.filter(fingerprint=bundle.fingerprint).first()
        created = version is None
        if created:
            try:
                stored = path.relative_to(settings.BASE_DIR)
            except ValueError:
                stored = path
            version = ModelVersion.objects.create(
                name=bundle.name,
                architecture=bundle.architecture,
                bundle_path=str(stored),
                fingerprint=bundle.fingerprint,
                metrics=bundle.metrics,
            )
        if activate or not ModelVersion.objects.filter(is_active=True).exists():
            version.activate()
    return version, created


def register_uploaded_bundle(zip_file: UploadedFile | Path) -> ModelVersion:
    """Unpack an uploaded bundle zip under MODEL_ROOT, check it fully, keep it for the other nodes
    (``bundle_store``), and register it (not activated).

    Checks: safe archive, manifest and checksums, metadata loads, the eight emotions in order, and the
    model loads and predicts sensible probabilities on a generated clip.  Raises ``MlcoreError`` with
    the reason; nothing is left on disk or in the database then.
    """
    from mlcore.errors import BundleError
    from mlcore.serving.bundle import extract_bundle_zip, load_bundle
    from predictions.pipeline import bundle_check

    dest = Path(settings.MODEL_ROOT) / uuid.uuid4().hex
    try:
        source = zip_file if isinstance(zip_file, Path) else getattr(zip_file, "file", zip_file)
        extract_bundle_zip(source, dest)
        bundle = load_bundle(dest)
        if tuple(bundle.labels) != EMOTIONS:
            raise BundleError(f"The bundle's labels {list(bundle.labels)} are not the eight emotions in order.")
        existing = ModelVersion.objects.filter(fingerprint=bundle.fingerprint).first()
        if existing:
            raise BundleError(f"This exact bundle is already registered as “{existing}” (id {existing.pk}).")
        bundle_check.check_fits_registry(bundle.name, bundle.architecture)
        bundle_check.validate_in_subprocess(dest)  # the model never loads in this (web) process
        bundle_store.publish(source, bundle.fingerprint)  # for the other nodes, with object storage on
        version, _ = register_bundle(dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return version


class ShippedRegistration(NamedTuple):
    bundle: ShippedBundle
    version: ModelVersion | None  # None when the bundle could not be registered (``error`` says why)
    created: bool
    error: str


def register_shipped_bundles(*, activate: bool = False) -> list[ShippedRegistration]:
    """Register every shipped bundle found on disk, each on its own.

    The bundle marked ``active`` becomes the active version when none is active yet, or always with
    ``activate``; the others are registered only.  By fingerprint, a bundle already registered (a
    byte-identical copy of another shipped bundle included) is left as it is.  A bundle that fails to
    load is reported in ``error`` and the others are still registered (should the active one fail on
    an empty registry, the next one becomes active: ``register_bundle``'s first-version rule).
    """
    from mlcore.errors import MlcoreError

    outcomes = []
    for shipped in SHIPPED_BUNDLES:
        try:
            version, created = register_bundle(shipped.path, activate=activate and shipped.active)
        except MlcoreError as e:
            outcomes.append(ShippedRegistration(shipped, None, False, str(e)))
        else:
            outcomes.append(ShippedRegistration(shipped, version, created, ""))
    return outcomes


def register_default_bundle_on_first_setup(sender: Any = None, **kwargs: Any) -> None:
    """post_migrate: register the shipped bundles (the default one active) when no version exists yet."""
    if not settings.REGISTER_DEFAULT_MODEL or kwargs.get("using", "default") != "default":
        return
    if ModelVersion.objects.exists():
        return
    for outcome in register_shipped_bundles(activate=True):
        if outcome.error and outcome.bundle.path.is_dir():  # a bundle left out of this install is no fault
            logger.warning("the shipped model bundle %s was not registered: %s", outcome.bundle.path, outcome.error)
        elif outcome.created:
            logger.info("registered the shipped model bundle %s as %s", outcome.bundle.path, outcome.version)


# --- The model, once per process -----------------------------------------------------------------------
_predictors: dict[int, Any] = {}
_predictor_lock = threading.Lock()


def get_predictor() -> tuple[ModelVersion | None, Any]:
    """The active version and its ``mlcore.serving.predictor.Predictor``, loaded once per process.

    Keyed by version id: activating another version makes every process load it on its next file.
    """
    version = ModelVersion.active()
    if version is None:
        return None, None
    with _predictor_lock:
        predictor = _predictors.get(version.pk)
        if predictor is None:
            from mlcore.serving.predictor import Predictor

            predictor = Predictor(bundle_store.local_path(version))
            _predictors.clear()
            _predictors[version.pk] = predictor
    return version, predictor


def warm_predictor() -> None:
    """Load the active model and run it once (graph tracing), so the first real file is fast."""
    version, predictor = get_predictor()
    if predictor is not None:
        from mlcore.serving.smoke import voiced_clip

        # A synthetic buzz the voice detector rightly refuses: warming runs the model whatever it says.
        predictor.analyse_many([voiced_clip(sr=predictor.sr, seconds=1.0)], require_voice=False)
        logger.info("model %s loaded in this process", version)

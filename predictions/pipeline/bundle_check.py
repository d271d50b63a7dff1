"""Validating an uploaded model bundle without loading its model into the web process.

``validate_in_subprocess`` runs ``python -m mlcore.serving.check`` (load, predict on a generated clip)
in a fresh interpreter with a timeout; ``check_fits_registry`` refuses what the registry's columns
cannot store, with the reason instead of a database error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from mlcore.errors import BundleError
from predictions.models import ModelVersion


def validate_in_subprocess(bundle_path: Path, *, timeout_s: float | None = None) -> None:
    """Raise ``BundleError`` with the reason unless the bundle loads and predicts sensibly."""
    timeout_s = settings.BUNDLE_CHECK_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mlcore.serving.check", str(bundle_path)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=settings.BASE_DIR,
        )
    except subprocess.TimeoutExpired:
        raise BundleError(
            f"Loading and running the model took longer than {timeout_s:g} s; the bundle is refused."
        ) from None
    try:
        outcome = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise BundleError(f"The model check crashed (exit status {done.returncode}): {tail[0][:300]}") from None
    if not outcome.get("ok"):
        raise BundleError(str(outcome.get("error") or "The model check failed."))


def check_fits_registry(name: str, architecture: str) -> None:
    for label, value, field in (("name", name, "name"), ("architecture", architecture, "architecture")):
        limit = ModelVersion._meta.get_field(field).max_length
        if len(value) > limit:
            raise BundleError(
                f"The bundle's {label} is {len(value)} characters long; at most {limit} can be stored. "
                f"Shorten it in config.json and build the bundle again."
            )

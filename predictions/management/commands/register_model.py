"""``manage.py register_model BUNDLE [--activate]`` / ``register_model --default [--activate]``."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from mlcore.errors import MlcoreError
from predictions.models import ModelVersion
from predictions.pipeline import registry


class Command(BaseCommand):
    help = "Register a model bundle directory as a ModelVersion (idempotent: the same bundle twice is a no-op)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("bundle", nargs="?", help="path to a bundle directory")
        shipped = ", ".join(
            f"{b.path.name} ({'active' if b.active else 'registered only'})" for b in registry.SHIPPED_BUNDLES
        )
        parser.add_argument("--default", action="store_true", help=f"the bundles shipped in mlcore/models: {shipped}")
        parser.add_argument(
            "--activate", action="store_true", help="make it the active version (with --default: the default bundle)"
        )

    def handle(self, *args, bundle: str | None, default: bool, activate: bool, **options) -> None:
        if bool(bundle) == default:
            raise CommandError("Give a bundle directory or --default (not both).")
        if default:
            self._register_shipped(activate=activate)
            return
        try:
            version, created = registry.register_bundle(bundle, activate=activate)
        except MlcoreError as e:
            raise CommandError(str(e)) from e
        self._report(version, created)

    def _register_shipped(self, *, activate: bool) -> None:
        failures = []
        for outcome in registry.register_shipped_bundles(activate=activate):
            where = outcome.bundle.path.name
            if outcome.error:
                failures.append(f"{where}: {outcome.error}")
            else:
                self._report(outcome.version, outcome.created, prefix=f"{where}: ", path=outcome.bundle.path)
        if failures:
            raise CommandError("Some shipped bundles were not registered:\n" + "\n".join(failures))

    def _report(self, version: ModelVersion, created: bool, *, prefix: str = "", path: Path | None = None) -> None:
        what = "registered" if created else "already registered"
        if not created and path is not None and version.path.resolve() != path.resolve():
            # Same fingerprint, other folder: a byte-identical copy is one version, not two.
            what += f" (same content as {version.bundle_path})"
        active = " (active)" if version.is_active else ""
        self.stdout.write(f"{prefix}{what}: {version} id={version.pk} fingerprint={version.fingerprint[:12]}{active}")

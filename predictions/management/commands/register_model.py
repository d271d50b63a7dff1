"""``manage.py register_model BUNDLE [--activate]`` / ``register_model --default [--activate]``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from mlcore.errors import MlcoreError
from predictions import services


class Command(BaseCommand):
    help = "Register a model bundle directory as a ModelVersion (idempotent: the same bundle twice is a no-op)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("bundle", nargs="?", help="path to a bundle directory")
        parser.add_argument("--default", action="store_true", help=f"the shipped bundle ({services.DEFAULT_BUNDLE})")
        parser.add_argument("--activate", action="store_true", help="make it the active version")

    def handle(self, *args, bundle: str | None, default: bool, activate: bool, **options) -> None:
        if bool(bundle) == default:
            raise CommandError("Give a bundle directory or --default (not both).")
        path = services.DEFAULT_BUNDLE if default else bundle
        try:
            version, created = services.register_bundle(path, activate=activate)
        except MlcoreError as e:
            raise CommandError(str(e)) from e
        what = "registered" if created else "already registered"
        active = " (active)" if version.is_active else ""
        self.stdout.write(f"{what}: {version} id={version.pk} fingerprint={version.fingerprint[:12]}{active}")

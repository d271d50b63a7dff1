"""System checks for serweb's configuration (run by manage.py, and by wsgi.py before serving)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import SystemCheckError


@checks.register("serweb")
def check_production_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    if not settings.DEBUG and not _secret_key():
        errors.append(
            checks.Error(
                "SECRET_KEY is not set and DEBUG=0.",
                hint="Set SECRET_KEY in the environment to a long random string "
                "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), or run with DEBUG=1 for development.",
                id="serweb.E001",
            )
        )
    if not settings.DEBUG and not settings.ALLOWED_HOSTS:
        errors.append(
            checks.Error(
                "ALLOWED_HOSTS is empty and DEBUG=0.",
                hint="Set ALLOWED_HOSTS to a comma-separated list of the host names this site answers to.",
                id="serweb.E002",
            )
        )
    return errors


@checks.register("serweb")
def check_limits(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for name in ("UPLOAD_MAX_FILE_BYTES", "UPLOAD_MAX_FILES", "UPLOAD_MAX_DURATION_S", "UPLOAD_MAX_ZIP_RATIO"):
        if getattr(settings, name) <= 0:
            errors.append(checks.Error(f"{name} must be a positive number.", id="serweb.E003"))
    if settings.CELERY_TASK_SOFT_TIME_LIMIT >= settings.CELERY_TASK_TIME_LIMIT:
        errors.append(
            checks.Error(
                "CELERY_TASK_SOFT_TIME_LIMIT must be below CELERY_TASK_TIME_LIMIT.",
                hint="The soft limit lets the task record a clear failure before the hard limit kills it.",
                id="serweb.E004",
            )
        )
    if not settings.CELERY_TASK_ALWAYS_EAGER and settings.STUCK_PROCESSING_S <= settings.CELERY_TASK_TIME_LIMIT:
        errors.append(
            checks.Warning(
                "STUCK_PROCESSING_S is not above CELERY_TASK_TIME_LIMIT; the sweep may re-queue running files.",
                id="serweb.W001",
            )
        )
    return errors


def _secret_key() -> str:
    try:
        return settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to read an empty SECRET_KEY
        return ""


def raise_on_configuration_errors() -> None:
    """Run serweb's checks and refuse to continue on an error (gunicorn never runs system checks)."""
    messages = checks.run_checks(tags=["serweb"])
    errors = [m for m in messages if m.is_serious()]
    if errors:
        raise SystemCheckError("serweb configuration errors:\n" + "\n".join(f"{e}\n  HINT: {e.hint}" for e in errors))

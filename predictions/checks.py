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
    weakness = _weak_secret_key(_secret_key())
    if not settings.DEBUG and _secret_key() and weakness:
        errors.append(
            checks.Error(
                f"SECRET_KEY {weakness} and DEBUG=0.",
                hint="Generate one: python -c 'import secrets; print(secrets.token_urlsafe(50))', and set it as "
                "SECRET_KEY or in a file named by SECRET_KEY_FILE.",
                id="serweb.E005",
            )
        )
    if not settings.DEBUG and settings.CELERY_TASK_ALWAYS_EAGER and not settings.ALLOW_EAGER_TASKS:
        errors.append(
            checks.Error(
                "CELERY_BROKER_URL is not set and DEBUG=0: every upload would be analysed inside the web request.",
                hint="Set CELERY_BROKER_URL (redis://…) and run a worker, or set ALLOW_EAGER_TASKS=1 to accept "
                "analysis inside gunicorn on purpose.",
                id="serweb.E006",
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
    public = [h for h in settings.ALLOWED_HOSTS if h not in _LOCAL_HOSTS]
    if settings.DEBUG and settings.DEBUG_BY_DEFAULT and public:
        errors.append(
            checks.Error(
                f"DEBUG is on (its development default) while ALLOWED_HOSTS names {', '.join(public)}: every "
                "error page would show settings and code to visitors.",
                hint="Set DEBUG=0 for a site others reach (with SECRET_KEY and a broker), or DEBUG=1 to say that "
                "this is a development machine on purpose.",
                id="serweb.E007",
            )
        )
    return errors


_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1", ".localhost", "testserver"})


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


# Keys that were published (in .env.example, docs or Django's own template) protect nothing.
_PLACEHOLDER_PARTS = ("change-me", "changeme", "replace-me", "your-secret", "django-insecure")
_MIN_SECRET_LENGTH = 50
_MIN_SECRET_CHARS = 5


def _weak_secret_key(key: str) -> str:
    """Why the key is unfit for production ("" when it is fine); Django's own W009 rule, as an error."""
    lowered = key.lower()
    if any(part in lowered for part in _PLACEHOLDER_PARTS):
        return "is a published placeholder"
    if len(key) < _MIN_SECRET_LENGTH:
        return f"is {len(key)} characters long (at least {_MIN_SECRET_LENGTH} are needed)"
    if len(set(key)) < _MIN_SECRET_CHARS:
        return f"uses fewer than {_MIN_SECRET_CHARS} different characters"
    return ""


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

"""serweb settings: one file, every value from the environment, zero-config defaults that run.

With no environment at all you get a development set-up: DEBUG on, SQLite in ``db.sqlite3``, uploads in
``var/uploads``, Celery tasks run eagerly in the web process.  Production values come only from the
environment (see ``.env.example``); ``predictions.checks`` refuses an incomplete production
configuration (DEBUG=0 without SECRET_KEY or ALLOWED_HOSTS) with a clear message.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _env(name: str) -> str | None:
    """``NAME`` from the environment, else the contents of the file ``NAME_FILE`` names (Docker secrets)."""
    if name in os.environ:
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ValueError(f"{name}_FILE={path!r} cannot be read: {e.strerror}.") from None


def env_str(name: str, default: str = "") -> str:
    value = _env(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={value!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")


def env_int(name: str, default: int) -> int:
    value = _env(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not an integer.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = _env(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def database_from_url(url: str) -> dict:
    """``postgresql://user:password@host:port/name?sslmode=require`` -> a DATABASES entry (psycopg 3)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise ValueError(f"DATABASE_URL scheme {parts.scheme!r} is not supported; use postgresql://")
    return {
        "ENGINE": "django_prometheus.db.backends.postgresql",  # Django's backend, counting queries for /metrics
        "NAME": unquote(parts.path.lstrip("/")) or "serweb",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": dict(parse_qsl(parts.query)),
        "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60),
        "CONN_HEALTH_CHECKS": True,
        # Behind PgBouncer in transaction mode, server-side cursors (used by the CSV export) must go.
        "DISABLE_SERVER_SIDE_CURSORS": env_bool("DB_DISABLE_SERVER_SIDE_CURSORS", False),
    }


def email_settings(url: str) -> dict:
    """EMAIL_* settings from ``smtp://user:password@host:587?tls=1`` (``smtps://`` for implicit TLS), or,
    without a URL, from the separate EMAIL_HOST, EMAIL_PORT … variables."""
    if not url:
        port = env_int("EMAIL_PORT", 587)
        return {
            "host": env_str("EMAIL_HOST"),
            "port": port,
            "user": env_str("EMAIL_HOST_USER"),
            "password": env_str("EMAIL_HOST_PASSWORD"),
            # STARTTLS on the submission port unless told otherwise; implicit TLS (465) is EMAIL_USE_SSL.
            "tls": env_bool("EMAIL_USE_TLS", port == 587),
            "ssl": env_bool("EMAIL_USE_SSL", False),
        }
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"EMAIL_URL scheme {parts.scheme!r} is not supported; use smtp:// or smtps://")
    return {
        "host": parts.hostname or "localhost",
        "port": parts.port or (465 if parts.scheme == "smtps" else 25),
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "tls": dict(parse_qsl(parts.query)).get("tls", "").lower() in _TRUE,
        "ssl": parts.scheme == "smtps",
    }


# --- Core -------------------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", True)
# DEBUG on by default is for a laptop; serving public host names with it is refused (serweb.E007) unless
# DEBUG was asked for explicitly.
DEBUG_BY_DEFAULT = "DEBUG" not in os.environ
# Development only: the system check serweb.E001 refuses to run without SECRET_KEY when DEBUG=0.
SECRET_KEY = env_str("SECRET_KEY") or ("django-insecure-serweb-development-only" if DEBUG else "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "predictions",
]

MIDDLEWARE = [
    # First and last: request counts and latencies for /metrics (predictions.pipeline.monitoring).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "serweb.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before CSRF, the first to read request.POST: files with unusable names are kept, not dropped.
    "predictions.web.request_errors.UploadNamesMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Pages show times in the signed-in user's zone (the browser's, stored on the account).
    "predictions.web.timezones.TimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "serweb.urls"
WSGI_APPLICATION = "serweb.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django_prometheus.db.backends.sqlite3",
            "NAME": Path(env_str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3"))),
            # Eager tasks write from the request thread; wait for the lock rather than fail.
            "OPTIONS": {"timeout": 20},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "predictions:upload"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files and private storage ---------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Recordings are private: stored under generated names and only ever served by a view that checks
# ownership.  There is deliberately no MEDIA_URL mapping.  Without a bucket they live in UPLOAD_ROOT;
# with one (AWS_STORAGE_BUCKET_NAME), UPLOAD_ROOT only stages uploads while they are checked.
UPLOAD_ROOT = Path(env_str("UPLOAD_ROOT", str(BASE_DIR / "var" / "uploads")))
# An S3-compatible object store for recordings (django-storages' own setting names; each can be read
# from NAME_FILE).  Empty bucket: the local disk.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL") or None
AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME") or None
AWS_ACCESS_KEY_ID = env_str("AWS_ACCESS_KEY_ID") or None
AWS_SECRET_ACCESS_KEY = env_str("AWS_SECRET_ACCESS_KEY") or None
# Path-style addressing (http://host:9000/bucket/key) is what MinIO and most self-hosted stores answer.
AWS_S3_ADDRESSING_STYLE = env_str("AWS_S3_ADDRESSING_STYLE", "path")
RECORDINGS_STORAGE = (
    {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": AWS_S3_ENDPOINT_URL,
            "region_name": AWS_S3_REGION_NAME,
            "access_key": AWS_ACCESS_KEY_ID,
            "secret_key": AWS_SECRET_ACCESS_KEY,
            "addressing_style": AWS_S3_ADDRESSING_STYLE,
            "default_acl": None,  # private: the bucket's policy, never public-read
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
    if AWS_STORAGE_BUCKET_NAME
    else {"BACKEND": "predictions.pipeline.recordings.LocalRecordings"}
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "recordings": RECORDINGS_STORAGE,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Model bundles uploaded through the admin are unpacked here (shared by web and worker).
MODEL_ROOT = Path(env_str("MODEL_ROOT", str(BASE_DIR / "var" / "models")))
# An uploaded bundle is loaded and run in a subprocess that must finish within this many seconds.
BUNDLE_CHECK_TIMEOUT_S = env_int("BUNDLE_CHECK_TIMEOUT_S", 180)
MEDIA_ROOT = UPLOAD_ROOT
# Serve from the finders in development (no collectstatic needed); production serves STATIC_ROOT.
WHITENOISE_AUTOREFRESH = DEBUG

# --- Upload limits ----------------------------------------------------------------------------------
UPLOAD_MAX_FILE_BYTES = env_int("UPLOAD_MAX_FILE_BYTES", 50 * 1024 * 1024)
UPLOAD_MAX_FILES = env_int("UPLOAD_MAX_FILES", 200)
UPLOAD_MAX_DURATION_S = env_int("UPLOAD_MAX_DURATION_S", 600)
# A zip may unpack to at most this much in total, and no member may compress better than this ratio.
UPLOAD_MAX_ZIP_BYTES = env_int("UPLOAD_MAX_ZIP_BYTES", 1024 * 1024 * 1024)
UPLOAD_MAX_ZIP_RATIO = env_int("UPLOAD_MAX_ZIP_RATIO", 100)
# One request (after unpacking zips): at most this many bytes stored and seconds of audio.
UPLOAD_MAX_REQUEST_BYTES = env_int("UPLOAD_MAX_REQUEST_BYTES", 1024 * 1024 * 1024)
UPLOAD_MAX_REQUEST_AUDIO_S = env_int("UPLOAD_MAX_REQUEST_AUDIO_S", 3600)
# Seconds of audio one user may upload in any 24 hours (0: no limit).
UPLOAD_MAX_DAILY_AUDIO_S = env_int("UPLOAD_MAX_DAILY_AUDIO_S", 4 * 3600)
# Django refuses requests with more file parts than this (400); leave room above our own limit so the
# user gets our message instead.
DATA_UPLOAD_MAX_NUMBER_FILES = UPLOAD_MAX_FILES * 2
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_PERMISSIONS = 0o640

# --- Celery -----------------------------------------------------------------------------------------
# Zero-config: without a broker, tasks run eagerly in the web process (errors are recorded on the
# file by the task itself, so a failing file never breaks the upload request).
CELERY_TASK_ALWAYS_EAGER = not env_str("CELERY_BROKER_URL")
# With DEBUG=0, tasks run inside the web request only when asked for (system check serweb.E006).
ALLOW_EAGER_TASKS = env_bool("ALLOW_EAGER_TASKS", False)
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "memory://"
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
# What a worker started without -Q consumes: analysis and the sweep.  Webhooks have a queue (and a
# worker process) of their own, so a slow receiver never holds an analysis slot (-Q webhooks).
CELERY_TASK_QUEUES = [Queue(q, Exchange(q), routing_key=q) for q in ("inference", "maintenance")]
WEBHOOK_QUEUE = "webhooks"
CELERY_TASK_ROUTES = {
    "predictions.process_file": {"queue": "inference"},
    "predictions.process_files": {"queue": "inference"},
    "predictions.analyse_live_take": {"queue": "inference"},
    "predictions.sweep_stuck": {"queue": "maintenance"},
}
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 120)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 150)
# Each prefork child loads TensorFlow and the model in worker_process_init; give it time to do so
# before the parent declares the child dead (Celery's default is 4 s).
CELERY_WORKER_PROC_ALIVE_TIMEOUT = env_int("CELERY_WORKER_PROC_ALIVE_TIMEOUT", 120)
CELERY_WORKER_MAX_TASKS_PER_CHILD = env_int("CELERY_WORKER_MAX_TASKS_PER_CHILD", 10000)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacknowledged (acks_late) message after this long; keep it above the hard limit.
# Short socket timeouts: a request that publishes while the broker is unreachable fails fast and leaves
# its files to the outbox (see predictions.pipeline.dispatch) instead of hanging.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
if CELERY_BROKER_URL.startswith("filesystem://"):
    # `make run`: a broker that needs no server.  Kombu's filesystem transport keeps one file per message
    # in BROKER_DIR, shared by the web server and the worker on this machine.  scripts/run.py creates the
    # folders before it starts them: importing the settings never writes anything.
    _broker_dir = Path(env_str("BROKER_DIR", str(BASE_DIR / "var" / "broker")))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "processed_folder": str(_broker_dir / "processed"),
    }
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Files per inference task.  1 (default): one task per file, the unit of retry and redelivery.
# Above 1, big uploads are sent in chunks analysed with one batched model call (higher throughput).
INFERENCE_BATCH_SIZE = env_int("INFERENCE_BATCH_SIZE", 1)
# For models that do not flag their own doubt (no `uncertain` rule in their metrics), a top probability
# below this is shown as uncertain.  The shipped models' own rules sit near 0.48-0.49.
UNCERTAIN_FALLBACK_TOP = float(env_str("UNCERTAIN_FALLBACK_TOP", "0.5"))
# Register (and activate) the shipped model bundle on migrate when no model version exists yet.
REGISTER_DEFAULT_MODEL = env_bool("REGISTER_DEFAULT_MODEL", True)
# Files of one user in the broker or a worker at once: a big upload takes this many worker slots and
# no more, so another user's file waits only for a worker to free.  About the number of worker processes.
DISPATCH_WINDOW_PER_USER = env_int("DISPATCH_WINDOW_PER_USER", 2)
# A recording longer than SPLIT_FILES_OVER_S is analysed in parts of ANALYSIS_PART_S seconds of audio,
# each its own task in the same fair queue (another user's clip then waits for one part, not for a whole
# long file, and several workers share one long file).  Shorter files are one task: a part costs a
# whole-recording decode and a task of its own, which buys nothing under a minute and a half.
ANALYSIS_PART_S = env_int("ANALYSIS_PART_S", 60)
SPLIT_FILES_OVER_S = env_int("SPLIT_FILES_OVER_S", 90)
# The sweep rescues stranded files and publishes files the broker never got; it runs this often.
SWEEP_INTERVAL_S = env_int("SWEEP_INTERVAL_S", 15)
CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-files": {"task": "predictions.sweep_stuck", "schedule": float(SWEEP_INTERVAL_S)},
    "remove-expired-audio": {"task": "predictions.remove_expired_audio", "schedule": 3600.0},
}
CELERY_TASK_ROUTES.update(
    {
        "predictions.deliver_webhook": {"queue": WEBHOOK_QUEUE},
        "predictions.email_job_finished": {"queue": WEBHOOK_QUEUE},
        "predictions.remove_expired_audio": {"queue": "maintenance"},
    }
)
# A published file still queued this long after its message was sent is published again (a broker
# that lost its messages); a duplicate message is harmless.  A file processing for longer than the
# hard time limit has lost its worker and is re-queued.  After PROCESSING_MAX_ATTEMPTS deliveries it
# fails for good (a file that kills workers must not loop).
STUCK_QUEUED_S = env_int("STUCK_QUEUED_S", 90)
STUCK_PROCESSING_S = env_int("STUCK_PROCESSING_S", CELERY_TASK_TIME_LIMIT + 30)
# A file held this long by a worker node that no longer answers a ping goes back to the queue
# (predictions/pipeline/nodes.py): a lost machine's files are not left for STUCK_PROCESSING_S.
NODE_GRACE_S = env_int("NODE_GRACE_S", max(30, 2 * SWEEP_INTERVAL_S))
PROCESSING_MAX_ATTEMPTS = env_int("PROCESSING_MAX_ATTEMPTS", 3)
# /healthz/?deep=1 is 503 when a published file has waited this long and no worker has taken a file
# from the inference queue for as long (a worker consuming the wrong queues, or none at all).
INFERENCE_STALL_S = env_int("INFERENCE_STALL_S", 300)

# --- Data retention ---------------------------------------------------------------------------------
# Recordings older than this many days leave storage (their predictions stay); unset or 0 keeps them.
AUDIO_RETENTION_DAYS = env_int("AUDIO_RETENTION_DAYS", 0) or None

# --- REST API and webhooks --------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "predictions.api.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "predictions.api.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["predictions.api.throttling.PerUserThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "predictions.api.errors.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
# Requests per user (per client address before signing in), "N/second|minute|hour|day".
API_RATE_LIMITS = {
    "user": env_str("API_RATE_LIMIT", "120/minute"),
    "uploads": env_str("API_UPLOAD_RATE_LIMIT", "30/minute"),
    "anon": env_str("API_ANON_RATE_LIMIT", "20/minute"),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "serweb API",
    "DESCRIPTION": "Speech emotion recognition: upload recordings, poll jobs or receive a webhook, read predictions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "predictions.models.Job.Status",
        "FileStatusEnum": "predictions.models.AudioFile.Status",
        "EmotionEnum": "predictions.models.EMOTION_CHOICES",
    },
    # <id:pk> (predictions.web.ids): the ids the API accepts, as the schema states them.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}},
}
# Webhooks: attempts per job (the first included) and the back-off base (seconds, doubled each time).
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 5)
WEBHOOK_RETRY_BASE_S = env_int("WEBHOOK_RETRY_BASE_S", 30)
WEBHOOK_TIMEOUT_S = env_int("WEBHOOK_TIMEOUT_S", 10)
# Callback URLs resolving to loopback, private, link-local or metadata addresses are refused unless
# this is on (tests, or a private network you trust).
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
# The throttle counters live in the default cache: per process unless CACHE_URL names Redis.
if env_str("CACHE_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env_str("CACHE_URL"),
            # A Redis that hangs must not hold requests: the limits fail open after this (throttling.py).
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }

# --- Email (password reset) -------------------------------------------------------------------------
# Without EMAIL_URL or EMAIL_HOST, messages are printed on the console (`make run` shows the reset link).
_email = email_settings(env_str("EMAIL_URL"))
EMAIL_HOST, EMAIL_PORT = _email["host"], _email["port"]
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _email["user"], _email["password"]
EMAIL_USE_TLS, EMAIL_USE_SSL = _email["tls"], _email["ssl"]
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT_S", 10)
EMAIL_BACKEND = env_str("EMAIL_BACKEND") or (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL") or "serweb <noreply@localhost>"
SERVER_EMAIL = DEFAULT_FROM_EMAIL
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT_S", 3 * 24 * 3600)
# Links in emails (workers know no host name): the address people reach serweb at.
SITE_URL = env_str("SITE_URL") or "http://127.0.0.1:8000"
# A job that took at least this long is announced by email to users who opted in on the account page.
NOTIFY_AFTER_S = env_int("NOTIFY_AFTER_S", 60)

# --- Security (production values are on unless DEBUG) -----------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("SECURE_PROXY_SSL_HEADER", False) else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Container and load-balancer probes talk plain HTTP to the app.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]

# --- Metrics (predictions.pipeline.monitoring) ---------------------------------------------------------------
# /metrics answers only requests with "Authorization: Bearer METRICS_TOKEN"; empty turns it off (404).
METRICS_TOKEN = env_str("METRICS_TOKEN")
# The analysis worker serves its metrics (all prefork children, PROMETHEUS_MULTIPROC_DIR) on this port;
# 0 serves none.  Bind it to an internal address only: it has no token.
WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 0)
WORKER_METRICS_ADDR = env_str("WORKER_METRICS_ADDR", "127.0.0.1")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Scripts and styles from this site only (serweb/csp.py); every browser test runs under it.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "media-src": "'self' blob:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
CONTENT_SECURITY_POLICY_REPORT_ONLY = env_bool("CONTENT_SECURITY_POLICY_REPORT_ONLY", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

"""Celery tasks: thin wrappers taking ids.  All logic lives in ``predictions.services``.

Worker model: prefork pool, and the model is loaded in each child by ``worker_process_init``.
TensorFlow must never be initialised in the prefork parent (its thread pools do not survive fork and
the children deadlock), so this module imports nothing heavy at import time; the parent only
imports Django and Celery.  Loading in ``worker_process_init`` (rather than on the first task) keeps
the first file's latency low; ``CELERY_WORKER_PROC_ALIVE_TIMEOUT`` is raised so the parent waits for
a child that is still loading.  A child that is recycled (max-tasks-per-child) loads it again.
"""

from __future__ import annotations

import logging
import random

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from django.db import DatabaseError, InterfaceError, OperationalError

from predictions import services

logger = logging.getLogger(__name__)

# Worth another try: the database or the filesystem hiccupped.  Bad audio is never retried.
TRANSIENT = (OperationalError, InterfaceError, DatabaseError, OSError)
MAX_RETRIES = 3


@worker_process_init.connect
def load_model_in_child(**kwargs) -> None:
    try:
        services.warm_predictor()
    except Exception:  # the first task will try again and record a clear failure if it must
        logger.exception("could not load the model at worker start")


@shared_task(
    bind=True, name="predictions.process_file", acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES
)
def process_file(self, file_id: int) -> str:
    """Analyse one uploaded file (by id) and store its prediction; idempotent."""
    try:
        return services.process_file(file_id)
    except SoftTimeLimitExceeded:
        services.fail_file(file_id, services.TIMED_OUT)
        return "failed"
    except TRANSIENT as exc:
        if self.request.retries >= self.max_retries:
            logger.exception("file %s: giving up after %d retries", file_id, self.request.retries)
            services.fail_file(file_id, services.INTERNAL)
            return "failed"
        # Exponential back-off with jitter: 2, 4, 8 s (+ up to 1 s).
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1) + random.random()) from exc
    except Exception:
        logger.exception("file %s: unexpected error", file_id)
        services.fail_file(file_id, services.INTERNAL)
        return "failed"


@shared_task(
    bind=True, name="predictions.process_files", acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES
)
def process_files(self, file_ids: list[int]) -> dict[str, int]:
    """Analyse a chunk of files (by id) with one batched model call; idempotent like ``process_file``."""
    try:
        return services.process_files(file_ids)
    except SoftTimeLimitExceeded:
        for file_id in file_ids:
            services.fail_file(file_id, services.TIMED_OUT)
        return {"failed": len(file_ids)}
    except TRANSIENT as exc:
        if self.request.retries >= self.max_retries:
            logger.exception("files %s: giving up after %d retries", file_ids, self.request.retries)
            for file_id in file_ids:
                services.fail_file(file_id, services.INTERNAL)
            return {"failed": len(file_ids)}
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1) + random.random()) from exc
    except Exception:
        logger.exception("files %s: unexpected error", file_ids)
        for file_id in file_ids:
            services.fail_file(file_id, services.INTERNAL)
        return {"failed": len(file_ids)}


@shared_task(name="predictions.sweep_stuck", acks_late=True)
def sweep_stuck() -> dict[str, int]:
    """Re-queue files stuck queued/processing past their timeout (run by Celery beat)."""
    return services.sweep_stuck()


# --- Webhooks and retention (logic in predictions.webhooks and predictions.retention) -------------------
@shared_task(bind=True, name="predictions.deliver_webhook", acks_late=True, max_retries=None)
def deliver_webhook(self, job_id: int) -> str:
    """POST a finished job's result to its callback; retried with back-off until WEBHOOK_MAX_ATTEMPTS
    attempts are recorded (the bound is counted in the database, so redeliveries cannot exceed it)."""
    from predictions import webhooks

    outcome = webhooks.deliver(job_id)
    if outcome == webhooks.RETRY:
        raise self.retry(countdown=webhooks.backoff_s(self.request.retries))
    return outcome


@shared_task(name="predictions.remove_expired_audio", acks_late=True)
def remove_expired_audio() -> int:
    """Remove recordings older than AUDIO_RETENTION_DAYS, keeping their predictions (Celery beat)."""
    from predictions import retention

    return retention.remove_expired_audio()

"""Celery tasks: thin wrappers taking ids.  The logic lives in ``predictions.pipeline.processing``.

Worker model: prefork pool, and the model is loaded in each child by ``worker_process_init``.
TensorFlow must never be initialised in the prefork parent (its thread pools do not survive fork and
the children deadlock), so this module imports nothing heavy at import time; the parent only
imports Django and Celery.  Loading in ``worker_process_init`` (rather than on the first task) keeps
the first file's latency low; ``CELERY_WORKER_PROC_ALIVE_TIMEOUT`` is raised so the parent waits for
a child that is still loading.  A child that is recycled (max-tasks-per-child) loads it again.

Outcomes are written before a message is acknowledged: a transient error (database or filesystem) is
retried with back-off for longer than a five-minute outage, and when even that is not enough the file
is left for the sweep rather than acknowledged with nothing written.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_init, worker_process_init, worker_process_shutdown, worker_ready
from django import db
from django.db import DatabaseError, InterfaceError, OperationalError
from django.utils import timezone

from predictions.models import QueueHeartbeat
from predictions.pipeline import chunking, dispatch, monitoring, nodes, processing, registry

logger = logging.getLogger(__name__)

# Worth another try: the database or the filesystem hiccupped.  Bad audio is never retried.
TRANSIENT = (OperationalError, InterfaceError, DatabaseError, OSError)
# Back-off 2, 4, 8, 16, then every 30 s (+ up to 1 s jitter): about 6 minutes in all.
MAX_RETRIES = 14
MAX_BACKOFF_S = 30


@worker_init.connect
def serve_metrics(**kwargs: Any) -> None:
    """In the worker's parent, before it forks: its children's metrics on WORKER_METRICS_PORT."""
    monitoring.start_worker_exporter()


@worker_process_shutdown.connect
def forget_child_metrics(pid: int | None = None, **kwargs: Any) -> None:
    monitoring.child_exited(pid or os.getpid())


@worker_process_init.connect
def load_model_in_child(**kwargs: Any) -> None:
    try:
        registry.warm_predictor()
    except Exception:  # the first task will try again and record a clear failure if it must
        logger.exception("could not load the model at worker start")


@worker_ready.connect
def take_back_files(sender: Any = None, **kwargs: Any) -> None:
    """A worker restarted after a crash takes back at once the files it held when it died."""
    hostname = getattr(sender, "hostname", "") or ""
    try:
        processing.take_back(hostname, since=timezone.now())
    except Exception:
        logger.exception("could not take back the files of %s; the sweep will", hostname)
    finally:
        # This runs in the prefork parent: children it forks later must not inherit its database socket.
        db.connections.close_all()


TASK_OPTIONS = {"bind": True, "acks_late": True, "reject_on_worker_lost": True, "max_retries": MAX_RETRIES}


@shared_task(name="predictions.process_file", **TASK_OPTIONS)
def process_file(self: Task, file_id: int) -> str:
    """Analyse one uploaded file (by id) and store its prediction; idempotent."""
    return _run(self, [file_id]).word()


@shared_task(name="predictions.process_files", **TASK_OPTIONS)
def process_files(self: Task, file_ids: list[int]) -> dict[str, int]:
    """Analyse a chunk of files (by id) with one batched model call; each file succeeds or fails alone."""
    return _run(self, list(file_ids)).as_dict()


@shared_task(name="predictions.process_chunk", **TASK_OPTIONS)
def process_chunk(self: Task, chunk_id: int) -> str:
    """Analyse one part of a long file (by id) and store its windows; the last part stored merges the
    file.  Idempotent, as a file's task."""
    return _run(self, [chunk_id], work=PARTS).word()


@dataclass(frozen=True)
class _Work:
    """What a task does with its ids: analyse them, fail one, give up on them at the time limit, and
    whose they are."""

    process: Callable[[list[int], processing.Delivery], processing.Outcome]
    fail: Callable[[int, str], Any]
    timed_out: Callable[[list[int]], Any]
    users_of: Callable[[list[int]], list[int]]


# Looked up at call time (lambdas), so a test can replace a step the way it replaces a module's function.
FILES = _Work(
    lambda ids, delivery: processing.process(ids, delivery),
    lambda file_id, reason: processing.fail_file(file_id, reason),
    lambda ids: processing.timed_out(ids),
    lambda ids: processing.users_of(ids),
)
PARTS = _Work(
    lambda ids, delivery: chunking.process_chunk(ids[0], delivery),
    lambda chunk_id, reason: chunking.fail_chunk(chunk_id, reason),
    lambda ids: chunking.fail_chunk(ids[0], processing.TIMED_OUT),
    lambda ids: chunking.users_of(ids),
)


def _run(task: Task, file_ids: list[int], work: _Work = FILES) -> processing.Outcome:
    request = task.request
    delivery = processing.Delivery(
        task_id=request.id or "", retries=request.retries or 0, hostname=request.hostname or ""
    )
    try:
        QueueHeartbeat.beat(dispatch.INFERENCE_QUEUE)
    except TRANSIENT:  # the database is away: processing below retries, and beats then
        pass
    try:
        outcome = work.process(file_ids, delivery)
    except SoftTimeLimitExceeded:
        work.timed_out(file_ids)
        outcome = processing.Outcome(failed=1) if len(file_ids) == 1 else processing.Outcome(split=len(file_ids))
    except TRANSIENT as exc:
        if request.retries < task.max_retries:
            countdown = min(2 ** (request.retries + 1), MAX_BACKOFF_S) + random.random()
            raise task.retry(exc=exc, countdown=countdown) from exc
        logger.exception("files %s: still failing after %d retries", file_ids, request.retries)
        try:
            for file_id in file_ids:
                work.fail(file_id, processing.INTERNAL)
        except TRANSIENT:  # the database is still away: nothing can be written, the sweep takes them back
            logger.exception("files %s: left for the sweep", file_ids)
            return processing.Outcome(skipped=len(file_ids))
        outcome = processing.Outcome(failed=len(file_ids))
    except Exception:
        logger.exception("files %s: unexpected error", file_ids)
        for file_id in file_ids:
            work.fail(file_id, processing.INTERNAL)
        outcome = processing.Outcome(failed=len(file_ids))
    # These files' owners may have more waiting: publish them now rather than at the next sweep.
    try:
        dispatch.dispatch_quietly(work.users_of(file_ids))
    except Exception:
        logger.exception("could not dispatch after files %s", file_ids)
    return outcome


@shared_task(name="predictions.analyse_live_take", acks_late=True)
def analyse_live_take(take_id: int) -> str:
    """Bring a live take's timeline up to date (by id); finalise it once every chunk is in.  Idempotent."""
    from predictions.pipeline import live

    return live.analyse(take_id)


@shared_task(name="predictions.sweep_stuck", acks_late=True)
def sweep_stuck() -> dict[str, int]:
    """Take back the files and parts of nodes that are gone, rescue stranded files and parts, merge long
    files whose merge never ran, publish unpublished ones (run by Celery beat)."""
    taken = nodes.take_back_from_dead_nodes()
    return processing.sweep_stuck() | {"taken_back": taken, "merged": chunking.merge_stranded()}


# --- Webhooks and retention (logic in predictions.lifecycle.webhooks and predictions.lifecycle.retention) -------------------
@shared_task(bind=True, name="predictions.deliver_webhook", acks_late=True, max_retries=None)
def deliver_webhook(self, job_id: int) -> str:
    """POST a finished job's result to its callback; retried with back-off until WEBHOOK_MAX_ATTEMPTS
    attempts are recorded (the bound is counted in the database, so redeliveries cannot exceed it)."""
    from predictions.lifecycle import webhooks

    outcome = webhooks.deliver(job_id)
    if outcome == webhooks.RETRY:
        raise self.retry(countdown=webhooks.backoff_s(self.request.retries))
    return outcome


@shared_task(name="predictions.email_job_finished")
def email_job_finished(job_id: int) -> bool:
    """Email the owner that a long job finished (opted in); acknowledged early, so sent at most once."""
    from predictions.lifecycle import notify

    return notify.email_job_finished(job_id)


@shared_task(name="predictions.remove_expired_audio", acks_late=True)
def remove_expired_audio() -> int:
    """Remove recordings older than AUDIO_RETENTION_DAYS, keeping their predictions, and what deletions
    still owe the store (Celery beat, hourly)."""
    from predictions.lifecycle import deletion, retention

    deletion.retry_pending_removals()  # what deletions could not remove while the store was down
    return retention.remove_expired_audio()

"""Publishing inference tasks.  The database is the outbox; the broker only carries wake-ups.

A queued file (or a queued part of a long file, ``FileChunk``: the same rule) is published
(``published_at`` set, then a message sent) by ``dispatch``, which keeps at most
``DISPATCH_WINDOW_PER_USER`` files and parts of each user in the broker or in a worker at once.  That is
the fairness rule: one user's 200-file upload occupies a few slots, so another user's single file is
published at once and waits only for a worker to free, not behind the whole upload.  Uploads, every
finished file and the periodic sweep call ``dispatch``; a publish that fails (broker down) leaves the
file unpublished for the next call, so a broker outage never loses a file and never slows a request
down by more than one failed connection.

Tasks are published by name, so this module imports no task code (no import cycle with ``tasks``).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Value
from django.utils import timezone

from predictions.models import AudioFile, FileChunk

logger = logging.getLogger(__name__)

ONE_FILE = "predictions.process_file"
MANY_FILES = "predictions.process_files"
ONE_CHUNK = "predictions.process_chunk"
INFERENCE_QUEUE = "inference"

_local = threading.local()


def dispatch(user_ids: Iterable[int] | None = None) -> int:
    """Publish each user's queued, unpublished files as far as their window allows; the number sent.

    ``user_ids`` limits the work to those users (``None``: every user with unpublished files).  Never
    raises for a broker outage.  In eager mode (no broker) each publish runs its task inline, which
    frees the window again, so the loop goes on until every file is done; a dispatch started from such
    an inline task only asks the running loop for another round.
    """
    if getattr(_local, "running", False):
        return 0
    users = None if user_ids is None else sorted(set(user_ids))
    _local.running = True
    sent = 0
    try:
        while True:
            messages = _reserve(users)
            if not messages:
                return sent
            published = _publish(messages)
            sent += published
            # With a broker, one round filled every window; only inline tasks free slots meanwhile.
            if published < len(messages) or not current_app.conf.task_always_eager:
                return sent
    finally:
        _local.running = False


def dispatch_quietly(user_ids: Iterable[int] | None = None) -> int:
    """``dispatch`` that logs instead of raising (a database error included): callers are cleanup paths
    whose own work is already saved, and the sweep will dispatch again."""
    try:
        return dispatch(user_ids)
    except Exception:
        logger.exception("dispatch failed; the sweep will publish the files")
        return 0


def window() -> int:
    """Files of one user allowed in the broker or a worker at once (a batch always fits)."""
    return max(1, settings.DISPATCH_WINDOW_PER_USER, settings.INFERENCE_BATCH_SIZE)


def _reserve(user_ids: list[int] | None) -> list[tuple[str, list[int]]]:
    """Mark the next files and parts of long files to publish (``published_at``) and return the messages
    to send: (task name, ids), files in chunks of the batch size, each part alone.

    Parts and files share each user's window; a user's waiting parts go first (someone already waits on
    that file), so two workers share one long file while another user's files still get their own slots.
    """
    size = max(1, settings.INFERENCE_BATCH_SIZE)
    pending = AudioFile.objects.filter(status=AudioFile.Status.QUEUED, published_at__isnull=True)
    parts = FileChunk.objects.filter(status=FileChunk.Status.QUEUED, published_at__isnull=True)
    if user_ids is not None:
        pending, parts = pending.filter(user_id__in=user_ids), parts.filter(user_id__in=user_ids)
    messages: list[tuple[str, list[int]]] = []
    now = timezone.now()
    in_flight = Q(status=AudioFile.Status.PROCESSING) | Q(status=AudioFile.Status.QUEUED, published_at__isnull=False)
    # Who has anything to publish (and whether parts), one read before any lock: usually no one (a
    # worker's follow-up call).
    waiting = set(
        parts.values_list("user_id", Value(True))
        .order_by()
        .union(pending.values_list("user_id", Value(False)).order_by())
    )
    if not waiting:
        return messages
    users, with_parts = {user for user, _ in waiting}, {user for user, part in waiting if part}
    with transaction.atomic():
        busy: Counter[int] = Counter()
        # A split file is processing while its parts run: its parts count, not the file.  One read.
        files, chunks = (
            rows.filter(in_flight, user_id__in=users).values_list("user_id").annotate(n=Count("id")).order_by()
            for rows in (AudioFile.objects.filter(parts=0), FileChunk.objects.all())
        )
        for user_id, n in files.union(chunks, all=True):
            busy[user_id] += n
        for user_id in sorted(users):
            free = window() - busy[user_id]
            if free <= 0:
                continue
            ids = []
            if user_id in with_parts:
                ids = list(
                    parts.filter(user_id=user_id)
                    .select_for_update(skip_locked=True)
                    .order_by("file_id", "index")
                    .values_list("pk", flat=True)[:free]
                )
                FileChunk.objects.filter(pk__in=ids).update(published_at=now)
                messages += [(ONE_CHUNK, [i]) for i in ids]
            if free - len(ids) <= 0:
                continue
            ids = list(
                pending.filter(user_id=user_id)
                .select_for_update(skip_locked=True)
                .order_by("id")
                .values_list("pk", flat=True)[: free - len(ids)]
            )
            AudioFile.objects.filter(pk__in=ids).update(published_at=now)
            batches = [ids[i : i + size] for i in range(0, len(ids), size)]
            messages += [(ONE_FILE if len(b) == 1 else MANY_FILES, b) for b in batches]
    return messages


def _publish(messages: list[tuple[str, list[int]]]) -> int:
    """Send each message; on the first failure un-mark that message's rows and the rest's, and stop."""
    for n, (name, ids) in enumerate(messages):
        try:
            if name == ONE_CHUNK:
                send_chunk(ids[0])
            else:
                send(ids)
        except Exception as e:  # kombu raises several types when the broker is unreachable
            logger.warning("broker unreachable (%s: %s); %d messages wait for the sweep", type(e).__name__, e, n)
            rest = messages[n:]
            parts = [i for name, ids in rest if name == ONE_CHUNK for i in ids]
            files = [i for name, ids in rest if name != ONE_CHUNK for i in ids]
            AudioFile.objects.filter(pk__in=files, status=AudioFile.Status.QUEUED).update(published_at=None)
            FileChunk.objects.filter(pk__in=parts, status=FileChunk.Status.QUEUED).update(published_at=None)
            return n
    return len(messages)


def send(file_ids: list[int]) -> None:
    """One message for these files, sent once (no publish retries: the outbox retries)."""
    task = current_app.tasks[ONE_FILE if len(file_ids) == 1 else MANY_FILES]
    args = [file_ids[0]] if len(file_ids) == 1 else [file_ids]
    task.apply_async(args=args, retry=False)


def send_chunk(chunk_id: int) -> None:
    """One message for one part of a long file, sent once."""
    current_app.tasks[ONE_CHUNK].apply_async(args=[chunk_id], retry=False)


def publish_by_name(task_name: str, *args: object, what: str) -> bool:
    """Publish a task by its name (so the caller imports no task code); a broker that cannot be reached
    is logged with ``what`` was being queued, and False is returned instead of an exception."""
    try:
        current_app.tasks[task_name].delay(*args)
    except Exception:  # kombu raises several types when the broker is unreachable
        logger.exception("%s could not be queued", what)
        return False
    return True


def publish_singly(file_ids: list[int]) -> None:
    """Publish each file as its own message now (a chunk that has to be split), outside any window."""
    for file_id in file_ids:
        AudioFile.objects.filter(pk=file_id, status=AudioFile.Status.QUEUED).update(published_at=timezone.now())
        try:
            send([file_id])
        except Exception:
            logger.warning("could not publish file %s; the sweep will", file_id)
            AudioFile.objects.filter(pk=file_id, status=AudioFile.Status.QUEUED).update(published_at=None)

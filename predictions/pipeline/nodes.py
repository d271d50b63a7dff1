"""Which worker nodes are alive: a node that died and does not come back (a machine lost) gives its files
back as soon as the sweep notices it is gone, not only once they pass the stale-processing timeout.

The sweep asks every worker to answer a ping (Celery's remote control, over the broker). A file held
by a node that did not answer, and held for longer than ``NODE_GRACE_S`` (so a node that is just
starting is not mistaken for a dead one), goes back to the queue through ``processing.take_back``,
exactly as when that node restarts.  When nobody answers at all (the broker is away, or a broker
without broadcast such as ``make run``'s file broker) nothing is decided here and the timeout rule
stays.  A live node wrongly counted as dead only costs work: every outcome is written under a row lock,
so the file still ends with one outcome and one prediction.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.utils import timezone

from predictions.models import AudioFile
from predictions.pipeline import processing

logger = logging.getLogger(__name__)

PING_TIMEOUT_S = 3.0


def live_nodes() -> set[str] | None:
    """The node names that answered a ping; None when none did (nothing can be concluded)."""
    try:
        replies = current_app.control.ping(timeout=PING_TIMEOUT_S)
    except Exception as e:  # the broker is away, or cannot broadcast
        logger.info("nodes: no ping (%s: %s); stale files wait for the timeout", type(e).__name__, e)
        return None
    live = {name for reply in replies or [] for name in reply}
    return live or None


def take_back_from_dead_nodes() -> int:
    """Files held past the grace period by nodes that do not answer go back to the queue; returns how many."""
    since = timezone.now() - timedelta(seconds=settings.NODE_GRACE_S)
    holders = set(
        AudioFile.objects.filter(status=AudioFile.Status.PROCESSING, started_at__lt=since)
        .exclude(claimed_by="")
        .values_list("claimed_by", flat=True)
        .distinct()
    )
    if not holders:
        return 0  # the common case: no ping at all
    live = live_nodes()
    if live is None:
        return 0
    taken = 0
    for node in sorted(holders - live):
        n = processing.take_back(node, since=since)
        if n:
            logger.warning("node %s does not answer: %d files it held went back to the queue", node, n)
        taken += n
    return taken

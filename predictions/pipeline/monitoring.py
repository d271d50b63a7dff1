"""Numbers an operator can watch, in Prometheus's text format.

Web: django-prometheus counts requests and database queries; ``metrics_view`` serves them at
``/metrics`` only to a scraper that sends ``Authorization: Bearer METRICS_TOKEN`` (anyone else, and
everyone while no token is set, gets a 404).

The outbox, read from PostgreSQL at each scrape (so it is one true figure however many web and worker
processes run): files queued but not yet published (the dispatch backlog, waiting for their owner's
window or for the broker), published and waiting for a worker, processing, and the age of the oldest
file not yet claimed.

Workers: the analysis worker counts files done and failed, the analysis time per second of audio, the
time files waited in the queue and failed webhook deliveries.  Prefork children write them in
prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, one folder per worker machine) and
the worker's parent serves their sum over HTTP on ``WORKER_METRICS_ADDR:WORKER_METRICS_PORT`` when that
port is set: an internal address for the scraper, never published.
"""

from __future__ import annotations

import hmac
import logging
import os
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Min, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from predictions.models import AudioFile, FileChunk

logger = logging.getLogger(__name__)

FILES = Counter("serweb_files_processed", "Files analysed by the workers, by outcome", ["outcome"])
CHUNKS = Counter("serweb_chunks_processed", "Parts of long files analysed by the workers, by outcome", ["outcome"])
ANALYSIS_RATIO = Histogram(
    "serweb_analysis_seconds_per_audio_second",
    "Wall-clock seconds of analysis per second of audio (one observation per analysed batch)",
    buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
QUEUE_WAIT = Histogram(
    "serweb_queue_wait_seconds",
    "Seconds from a file being queued to a worker claiming it",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
WEBHOOK_FAILURES = Counter(
    "serweb_webhook_failures", "Webhook delivery attempts that failed, by what happens next", ["next"]
)


class OutboxCollector(Collector):
    """Gauges of the outbox, counted in the database when scraped."""

    def collect(self):
        unfinished = AudioFile.objects.filter(status__in=[AudioFile.Status.QUEUED, AudioFile.Status.PROCESSING])
        yield _waiting("serweb_files_waiting", "Files", unfinished)
        open_parts = FileChunk.objects.filter(status__in=[FileChunk.Status.QUEUED, FileChunk.Status.PROCESSING])
        yield _waiting("serweb_parts_waiting", "Parts of long files", open_parts)
        oldest = unfinished.filter(status=AudioFile.Status.QUEUED).aggregate(t=Min("created_at"))["t"]
        age = GaugeMetricFamily(
            "serweb_oldest_queued_seconds", "Age of the oldest file queued and not yet claimed by a worker (0: none)"
        )
        age.add_metric([], (timezone.now() - oldest).total_seconds() if oldest else 0.0)
        yield age


def _waiting(name: str, what: str, rows) -> GaugeMetricFamily:
    """``rows`` (unfinished files or parts) counted as unpublished, published (in the broker) or processing."""
    gauge = GaugeMetricFamily(
        name,
        f"{what} not finished, by state: unpublished (the dispatch backlog), published (in the broker), processing",
        labels=["state"],
    )
    counts = {"unpublished": 0, "published": 0, "processing": 0}
    grouped = (
        rows.annotate(published=Q(published_at__isnull=False))
        .values_list("status", "published")
        .annotate(n=Count("id"))
        .order_by()
    )
    for status, published, n in grouped:
        counts["processing" if status == "processing" else ("published" if published else "unpublished")] += n
    for state, n in counts.items():
        gauge.add_metric([state], n)
    return gauge


_outbox = CollectorRegistry(auto_describe=False)
_outbox.register(OutboxCollector())


def registry() -> CollectorRegistry:
    """This process's metrics, or every process's sum in multiprocess mode."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    return merged


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The scrape endpoint: a 404 unless the request carries the configured bearer token."""
    token = settings.METRICS_TOKEN
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token or not hmac.compare_digest(sent.encode(), token.encode()):
        raise Http404
    return HttpResponse(generate_latest(registry()) + generate_latest(_outbox), content_type=CONTENT_TYPE_LATEST)


def start_worker_exporter() -> None:
    """In the worker's parent, before it forks: empty the multiprocess folder (a restart leaves the dead
    processes' files) and serve the children's metrics, when WORKER_METRICS_PORT is set."""
    port = settings.WORKER_METRICS_PORT
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not port:
        return
    if not folder:
        logger.error("WORKER_METRICS_PORT is set but PROMETHEUS_MULTIPROC_DIR is not: no worker metrics")
        return
    for entry in Path(folder).glob("*.db"):
        entry.unlink(missing_ok=True)
    Path(folder).mkdir(parents=True, exist_ok=True)
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=settings.WORKER_METRICS_ADDR, registry=registry())
    except OSError as e:  # another worker on this machine serves them already
        logger.error("worker metrics not served on port %d: %s", port, e)
        return
    logger.info("worker metrics on http://%s:%d/metrics", settings.WORKER_METRICS_ADDR, port)


def child_exited(pid: int) -> None:
    """A prefork child is gone: its gauges leave the sum (counters and histograms stay counted)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)

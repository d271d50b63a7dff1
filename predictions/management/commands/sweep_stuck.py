"""``manage.py sweep_stuck``: rescue stranded files and publish unpublished ones (Celery beat runs the same as a task)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from predictions.pipeline import processing


class Command(BaseCommand):
    help = "Re-queue files stuck queued or processing past their timeout; fail those out of attempts."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--queued-s", type=int, help="queued for longer than this (default STUCK_QUEUED_S)")
        parser.add_argument("--processing-s", type=int, help="processing longer than this (default STUCK_PROCESSING_S)")

    def handle(self, *args, queued_s: int | None, processing_s: int | None, **options) -> None:
        result = processing.sweep_stuck(queued_s=queued_s, processing_s=processing_s)
        self.stdout.write(f"re-queued {result['requeued']}, failed {result['failed']}, published {result['published']}")

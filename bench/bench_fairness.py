"""Fairness: how long one user's single 4 s clip waits while another user's big upload is being analysed.

    .venv/bin/python -m bench.bench_fairness [--big-files 40] [--big-seconds 60] [--workers 2]

Runs a real prefork worker (``--workers`` processes) on PostgreSQL and Redis (BENCH_DATABASE_URL /
BENCH_BROKER_URL as bench_platform), twice: with the per-user dispatch window (DISPATCH_WINDOW_PER_USER,
the default 2) and with the window opened wide (every file published at once, the old FIFO behaviour).
Prints the small job's upload-to-result time in each mode (clips sent while the big job still has
files waiting), and their ratio.  Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_platform import _bundle, _clip_bytes, _recreate_database, _setup, _start_worker, _wait_done


def _small_job_wait(big_user, small_user, *, big_files: int, big_seconds: float, tries: int) -> list[float]:
    """Upload-to-result seconds of single 4 s clips sent one after another while the big job still has
    files waiting (a clip sent after the big job has drained measures nothing, so the loop stops)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from predictions.models import AudioFile
    from predictions.pipeline import jobs

    big = [SimpleUploadedFile(f"long-{i}.wav", _clip_bytes(i, seconds=big_seconds)) for i in range(big_files)]
    big_job = jobs.create_job(big_user, big)
    time.sleep(3)  # the big upload is under way
    waits = []
    for i in range(tries):
        if not AudioFile.objects.filter(job=big_job, status="queued").exists():
            break
        t0 = time.perf_counter()
        small = jobs.create_job(small_user, [SimpleUploadedFile(f"short-{i}.wav", _clip_bytes(100 + i))])
        _wait_done([small.pk], timeout=3600, poll_s=0.05)
        waits.append(time.perf_counter() - t0)
    _wait_done([big_job.pk], timeout=3600, poll_s=0.5)
    return waits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-files", type=int, default=40)
    parser.add_argument("--big-seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tries", type=int, default=5, help="at most this many small uploads while the big one runs")
    args = parser.parse_args(argv)

    _recreate_database()
    results = {}
    with tempfile.TemporaryDirectory(prefix="serweb-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "uploads").mkdir()
        _setup(tmp / "uploads")
        from django.conf import settings
        from django.contrib.auth import get_user_model

        from predictions.pipeline import registry

        registry.register_bundle(_bundle(tmp), activate=True)
        users = get_user_model().objects
        for mode, window in (("per-user window", settings.DISPATCH_WINDOW_PER_USER), ("all at once (FIFO)", 100_000)):
            # The worker's own follow-up dispatches read the same setting from its environment.
            os.environ["DISPATCH_WINDOW_PER_USER"] = str(window)
            settings.DISPATCH_WINDOW_PER_USER = window
            worker = _start_worker(tmp / f"worker-{window}.log", concurrency=args.workers)
            try:
                big_user = users.create_user(f"big-{window}", password="bench-password-123")
                small_user = users.create_user(f"small-{window}", password="bench-password-123")
                waits = _small_job_wait(
                    big_user, small_user, big_files=args.big_files, big_seconds=args.big_seconds, tries=args.tries
                )
            finally:
                worker.terminate()
                worker.wait(timeout=120)
            results[mode] = statistics.median(waits)
            print(
                f"fairness  {mode} (window {window}): a 4 s clip waits median {results[mode]:.1f} s, "
                f"max {max(waits):.1f} s over {len(waits)} clips sent one after another, while {args.big_files} x {args.big_seconds:.0f} s "
                f"files of another user run on {args.workers} worker processes",
                flush=True,
            )
    fair, fifo = results.values()
    print(f"fairness ratio  FIFO wait / per-user window wait: {fifo / fair:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

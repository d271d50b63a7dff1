"""Fairness: how long one user's single 4 s clip waits while another user's big upload is being analysed.

    .venv/bin/python -m bench.bench_fairness [--big-files 40] [--big-seconds 60] [--workers 2]
        [--long-minutes 10] [--scenario many|long|both]

Runs a real prefork worker (``--workers`` processes) on PostgreSQL and Redis (BENCH_DATABASE_URL /
BENCH_BROKER_URL as bench_platform).  Scenario "many": another user's upload of ``--big-files`` files,
twice: with the per-user dispatch window (DISPATCH_WINDOW_PER_USER, the default 2) and with the window
opened wide (every file published at once, the old FIFO behaviour).  Scenario "long": another user's one
``--long-minutes`` recording, twice: analysed in parts (ANALYSIS_PART_S, each its own task in the
window) and in one piece (SPLIT_FILES_OVER_S set past its length, as before parts).  Prints the small
job's upload-to-result time in each mode (clips sent while the big job still has work waiting), and
the ratios.  Asserts nothing.
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


def _small_job_wait(big_user, small_user, big: list, *, tries: int) -> list[float]:
    """Upload-to-result seconds of single 4 s clips sent one after another while the big job still has
    files or parts waiting, or (a long file in one piece) still runs: a clip sent after that measures
    nothing, so the loop stops."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from predictions.models import AudioFile, FileChunk
    from predictions.pipeline import jobs

    big_job = jobs.create_job(big_user, big)
    time.sleep(3)  # the big upload is under way
    waits = []
    for i in range(tries):
        waiting = AudioFile.objects.filter(job=big_job, status="queued").exists()
        waiting |= AudioFile.objects.filter(job=big_job, status="processing", parts=0, audio_s__gt=90).exists()
        if not waiting and not FileChunk.objects.filter(file__job=big_job, status="queued").exists():
            break
        t0 = time.perf_counter()
        small = jobs.create_job(small_user, [SimpleUploadedFile(f"short-{i}.wav", _clip_bytes(100 + i))])
        _wait_done([small.pk], timeout=3600, poll_s=0.05)
        waits.append(time.perf_counter() - t0)
    _wait_done([big_job.pk], timeout=3600, poll_s=0.5)
    return waits


def _long_recording(minutes: float) -> bytes:
    """``minutes`` of synthetic speech: one minute made once and repeated (the cost is the same)."""
    import io

    import numpy as np
    import soundfile as sf

    minute, sr = sf.read(io.BytesIO(_clip_bytes(7, seconds=60.0)), dtype="float32")
    y = np.tile(minute, int(np.ceil(minutes)))[: int(minutes * 60 * sr)]
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _set(name: str, value: int) -> None:
    """A setting for this process and for the workers it starts (they read their environment)."""
    from django.conf import settings

    os.environ[name] = str(value)
    setattr(settings, name, value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-files", type=int, default=40)
    parser.add_argument("--big-seconds", type=float, default=60.0)
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--long-files", type=int, default=2, help="long files in the other user's upload")
    parser.add_argument("--scenario", choices=["many", "long", "both"], default="both")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tries", type=int, default=5, help="at most this many small uploads while the big one runs")
    args = parser.parse_args(argv)

    os.environ.setdefault("UPLOAD_MAX_DURATION_S", str(int(max(600, args.long_minutes * 60 + 60))))
    # One encoder thread per worker process, one process per core: parts spread over processes.
    os.environ.setdefault("SERWEB_ENCODER_THREADS", "1")
    _recreate_database()
    with tempfile.TemporaryDirectory(prefix="serweb-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "uploads").mkdir()
        _setup(tmp / "uploads")
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.core.files.uploadedfile import SimpleUploadedFile

        from predictions.pipeline import registry

        registry.register_bundle(_bundle(tmp), activate=True)
        users = get_user_model().objects
        window, split = settings.DISPATCH_WINDOW_PER_USER, settings.SPLIT_FILES_OVER_S
        runs = []
        if args.scenario in ("many", "both"):
            files = [_clip_bytes(i, seconds=args.big_seconds) for i in range(args.big_files)]
            what = f"{args.big_files} x {args.big_seconds:.0f} s files"
            runs += [("many", "per-user window", window, split, files, what), ("many", "all at once (FIFO)", 100_000, split, files, what)]  # fmt: skip
        if args.scenario in ("long", "both"):
            files = [_long_recording(args.long_minutes)] * args.long_files
            what = f"{args.long_files} x {args.long_minutes:g}-minute files"
            runs += [("long", "in parts", window, split, files, what), ("long", "in one piece", window, 10**7, files, what)]  # fmt: skip
        results: dict[tuple[str, str], float] = {}
        for n, (scenario, mode, window_n, split_s, files, what) in enumerate(runs):
            _set("DISPATCH_WINDOW_PER_USER", window_n)
            _set("SPLIT_FILES_OVER_S", split_s)
            # One piece of a long recording must not meet the time limit on a busy machine.
            os.environ["CELERY_TASK_SOFT_TIME_LIMIT"], os.environ["CELERY_TASK_TIME_LIMIT"] = "3600", "3700"
            worker = _start_worker(tmp / f"worker-{n}.log", concurrency=args.workers)
            try:
                big_user = users.create_user(f"big-{n}", password="bench-password-123")
                small_user = users.create_user(f"small-{n}", password="bench-password-123")
                big = [SimpleUploadedFile(f"long-{i}.wav", data) for i, data in enumerate(files)]
                waits = _small_job_wait(big_user, small_user, big, tries=args.tries)
            finally:
                worker.terminate()
                worker.wait(timeout=120)
            # The old FIFO figure is a median; behind long files in one piece the wait is all or nothing
            # (a clip finds a process free, or waits for a whole file), so the long scenario compares maxima.
            results[scenario, mode] = statistics.median(waits) if scenario == "many" else max(waits)
            print(
                f"fairness  {mode}: a 4 s clip waits median {statistics.median(waits):.1f} s, "
                f"max {max(waits):.1f} s over {len(waits)} clips sent one after another, while {what} "
                f"of another user run on {args.workers} worker processes",
                flush=True,
            )
    if ("many", "per-user window") in results:
        ratio = results["many", "all at once (FIFO)"] / results["many", "per-user window"]
        print(f"fairness ratio  FIFO wait / per-user window wait (median): {ratio:.1f}x")
    if ("long", "in parts") in results:
        ratio = results["long", "in one piece"] / results["long", "in parts"]
        print(f"fairness ratio  long file in one piece / in parts (max): {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

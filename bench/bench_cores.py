"""How much faster 2 (or N) worker processes can be than 1 on this machine: the ceiling of any speed-up
that ``bench platform`` measures with more processes.

Each process runs the serving encoder (ONNX Runtime fp32, one thread, the shipped default's layers) on
the same 4 s synthetic clips, all processes started together behind a barrier; throughput is clips per
second summed over processes, with BLAS on one thread as serving sets it and, for comparison, at
NumPy's default (where an idle BLAS thread spinning beside ONNX Runtime took the second core).  Nothing
else of serweb runs (no database, broker, decoding or voice
detector), so the ratio 2 processes / 1 process is the most two worker processes can gain here: on two
real cores about 2x, less where the cores are shared (SMT siblings, a busy host) or where memory
bandwidth limits.

    .venv/bin/python -m bench.bench_cores [--processes 1,2] [--clips 16] [--repeats 5]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
from typing import Any


def _encode(barrier: Any, clips: int, repeats: int, quiet: bool, out: Any) -> None:
    os.environ["SERWEB_ORT_THREADS"] = "1"
    from bench.bench_inference import _clips
    from mlcore.models import quiet_blas
    from mlcore.models.whisper_ort import OrtEncoder

    if quiet:
        quiet_blas()  # as a serving process does
    encoder = OrtEncoder(4)
    signals = _clips(clips, sr=16000)
    encoder.encode(signals[0])  # warm-up: the session is built and its first run done
    barrier.wait()
    t0 = time.perf_counter()
    for _ in range(repeats):
        for y in signals:
            encoder.encode(y)
    out.put(clips * repeats / (time.perf_counter() - t0))


def throughput(processes: int, *, clips: int, repeats: int, quiet: bool = True) -> float:
    """Clips per second of ``processes`` processes encoding at once (their sum); ``quiet``: BLAS on one
    thread, as serving sets it (``mlcore.models.quiet_blas``)."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    children = [ctx.Process(target=_encode, args=(barrier, clips, repeats, quiet, out)) for _ in range(processes)]
    for child in children:
        child.start()
    rates = [out.get(timeout=600) for _ in children]
    for child in children:
        child.join()
    return sum(rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2", help="comma-separated process counts")
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3, help="runs per count; the median is printed")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.processes.split(",")]
    print(f"{os.cpu_count()} CPUs; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for quiet in (True, False):
        how = "BLAS on one thread (as serving)" if quiet else "BLAS threads left at NumPy's default (before)"
        rates: dict[int, float] = {}
        for n in counts:
            runs = [throughput(n, clips=args.clips, repeats=args.repeats, quiet=quiet) for _ in range(args.runs)]
            rates[n] = statistics.median(runs)
            print(f"cores  {how}: {n} encoder process(es) at once: {rates[n]:.1f} clips/s in all", flush=True)
        for n in counts[1:]:
            print(f"cores  {how}: ratio {n} / {counts[0]} process(es): {rates[n] / rates[counts[0]]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

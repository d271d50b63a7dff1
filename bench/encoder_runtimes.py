"""The encoder alone on each runtime, side by side: NumPy (the reference) vs ONNX Runtime fp32 (what
serves) vs ONNX Runtime dynamic int8 (measured, not shipped); ``bench.bench_encoder`` prints it first.

Each runtime runs in its own child process (so its peak RSS is its own), on 4 s synthetic speech
clips' log-mels (log-mel excluded from the times), through the first ``layers`` encoder layers:

- one clip per call, and batches of equal clips as serving makes them (``MAX_BATCH_FRAMES``, ORT only):
  milliseconds of CPU per clip on one pinned core (median of the repeats), clips per second;
- cold start: NumPy = weights' sha256 check + parse; ORT built = the same + building and writing the
  graph + session; ORT cached = reading and verifying the cached graph + session (what a worker pays);
  int8 = session on the quantised graph (quantising is timed apart);
- ORT fp32 with 2 intra-op threads, not pinned: wall and CPU per clip (to choose the thread count);
- int8 only: how far its states move from fp32's (frame cosine, and cosine of the mean over frames).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_inference import _clips, _peak_rss_mb, _pin_one_core, run_child

MODULE = "bench.encoder_runtimes"
SR = 16000


def _cpu_ms(run: Any, n_clips: int, repeats: int) -> tuple[float, float]:
    """Median CPU and wall milliseconds per clip of ``run()`` (which handles ``n_clips`` clips)."""
    run()  # warm-up
    cpu, wall = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        run()
        wall.append(1000 * (time.perf_counter() - t0) / n_clips)
        cpu.append(1000 * (time.process_time() - c0) / n_clips)
    return statistics.median(cpu), statistics.median(wall)


def _worker(kind: str, layers: int, n_clips: int, repeats: int, threads: int, tmp: str) -> dict[str, Any]:
    # The first child (ort-build) finds this folder empty and fills it; the others read it.
    os.environ["SERWEB_ENCODER_CACHE"] = str(Path(tmp) / "cache")
    pinned = _pin_one_core() if threads == 1 else None
    from mlcore.models.whisper import log_mel
    from mlcore.models.whisper_ort import MAX_BATCH_FRAMES

    mels = np.stack([log_mel(c) for c in _clips(n_clips, sr=SR)])  # (n, 400, 80)
    out: dict[str, Any] = {"kind": kind, "threads": threads, "pinned": pinned}
    t0 = time.perf_counter()
    if kind == "numpy":
        from mlcore.models.encoder import cached_encoder_weights
        from mlcore.models.whisper import WhisperEncoder

        encoder = WhisperEncoder(cached_encoder_weights(), n_layers=layers)
        out["cold_s"] = time.perf_counter() - t0
        one = encoder.hidden_states
        batch = None
    else:
        from mlcore.models import whisper_ort

        if kind == "int8":
            graph = (Path(tmp) / "int8.onnx").read_bytes()
        else:
            graph = whisper_ort.cached_graph(layers)
            out["graph_s"] = time.perf_counter() - t0
        encoder = whisper_ort.OrtEncoder(layers, threads=threads, graph=graph)
        del graph
        out["cold_s"] = time.perf_counter() - t0
        one = encoder.hidden_states
        batch = encoder.hidden_states_batch

    def each(run: Any, items: Any) -> None:
        for item in items:
            run(item)  # the states are dropped, as serving drops them once pooled

    out["cpu_ms"], out["wall_ms"] = _cpu_ms(lambda: each(one, mels), n_clips, repeats)
    if batch is not None:
        size = out["batch"] = MAX_BATCH_FRAMES // mels.shape[1]
        batches = [mels[i : i + size] for i in range(0, n_clips, size)]
        out["batch_cpu_ms"], out["batch_wall_ms"] = _cpu_ms(lambda: each(batch, batches), n_clips, repeats)
    out["peak_rss_mb"] = _peak_rss_mb()  # before int8's comparison loads a second graph
    if kind == "int8":
        out.update(_int8_deviation(one, mels, layers))
    out["tensorflow"] = "tensorflow" in sys.modules
    return out


def _int8_deviation(int8: Any, mels: np.ndarray, layers: int) -> dict[str, float]:
    from mlcore.models.whisper_ort import OrtEncoder

    fp32 = OrtEncoder(layers, threads=1)
    frame_cos, pooled_cos = [], []
    for mel in mels:
        a, b = int8(mel)[2:], fp32.hidden_states(mel)[2:]  # the layers the default bundle pools
        for x, y in zip(a, b, strict=True):
            frame_cos.append(np.sum(x * y, axis=1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1))
        pa, pb = np.concatenate([x.mean(axis=0) for x in a]), np.concatenate([y.mean(axis=0) for y in b])
        pooled_cos.append(float(pa @ pb / np.linalg.norm(pa) / np.linalg.norm(pb)))
    frames = np.concatenate(frame_cos)
    return {
        "frame_cos_median": float(np.median(frames)),
        "frame_cos_min": float(frames.min()),
        "pooled_cos_min": min(pooled_cos),
    }


def _quantize(layers: int, tmp: str) -> dict[str, Any]:
    """Dynamic int8 weights of the fp32 graph (onnxruntime.quantization), written to ``tmp``/int8.onnx."""
    os.environ["SERWEB_ENCODER_CACHE"] = str(Path(tmp) / "cache")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from mlcore.models import whisper_ort

    fp32 = Path(whisper_ort.cached_graph(layers))  # the cache the first child filled
    t0 = time.perf_counter()
    quantize_dynamic(fp32, Path(tmp) / "int8.onnx", weight_type=QuantType.QInt8)
    return {"quantize_s": time.perf_counter() - t0, "mb": (Path(tmp) / "int8.onnx").stat().st_size / 1e6}


def measure(*, layers: int, clips: int, repeats: int, tmp: Path) -> dict[str, Any]:
    """Every runtime's figures; children run one after another."""
    common = (str(layers), str(clips), str(repeats))
    out: dict[str, Any] = {"layers": layers, "clips": clips, "repeats": repeats}
    out["ort-build"], _ = run_child("worker", "ort-build", *common, "1", str(tmp), module=MODULE)
    out["numpy"], _ = run_child("worker", "numpy", *common, "1", str(tmp), module=MODULE)
    out["ort"], _ = run_child("worker", "ort", *common, "1", str(tmp), module=MODULE)
    out["ort-2"], _ = run_child("worker", "ort", *common, "2", str(tmp), module=MODULE, threads=2)
    out["quantize"], _ = run_child("quantize", str(layers), str(tmp), module=MODULE)
    out["int8"], _ = run_child("worker", "int8", *common, "1", str(tmp), module=MODULE)
    return out


def print_table(r: dict[str, Any]) -> None:
    numpy_, ort, ort2, int8, build = (r[k] for k in ("numpy", "ort", "ort-2", "int8", "ort-build"))
    print(
        f"0. the encoder alone, first {r['layers']} layers, {r['clips']} 4 s clips (log-mel excluded), "
        f"median of {r['repeats']}, one pinned core unless said"
    )
    print(
        f"   {'':34} {'1 clip/call':>12} {'batch of ' + str(ort['batch']):>12} {'clips/s':>8} {'cold start':>11} {'peak RSS':>9}"
    )

    def row(name: str, c: dict[str, Any], cold: str | None = None) -> None:
        batched = f"{c['batch_cpu_ms']:.1f} ms" if "batch_cpu_ms" in c else "-"
        best = min(c["cpu_ms"], c.get("batch_cpu_ms", c["cpu_ms"]))
        cold = cold or f"{c['cold_s']:.2f} s"
        print(
            f"   {name:34} {c['cpu_ms']:>9.1f} ms {batched:>12} {1000 / best:>8.1f} {cold:>11} {c['peak_rss_mb']:>6.0f} MB"
        )

    row("NumPy fp32 (reference, test oracle)", numpy_)
    row("ONNX Runtime fp32, 1 thread (serves)", ort)
    row("ONNX Runtime int8 dynamic (not kept)", int8, f"{int8['cold_s']:.2f} s")
    print(
        f"   ratios: NumPy / ORT fp32 {numpy_['cpu_ms'] / ort['cpu_ms']:.2f}x (batched {numpy_['cpu_ms'] / ort['batch_cpu_ms']:.2f}x); "
        f"ORT fp32 / int8 {ort['cpu_ms'] / int8['cpu_ms']:.2f}x; batched / 1 clip per call (ORT) {ort['batch_cpu_ms'] / ort['cpu_ms']:.2f}x"
        f"\n   ORT fp32, 2 intra-op threads, not pinned: {ort2['wall_ms']:.1f} ms wall, {ort2['cpu_ms']:.1f} ms CPU per clip "
        f"(batched {ort2['batch_wall_ms']:.1f} wall, {ort2['batch_cpu_ms']:.1f} CPU): 1 thread gives "
        f"{ort2['cpu_ms'] / ort['cpu_ms']:.2f}x the clips per core-second"
        f"\n   cold start: ORT with the graph cached {ort['cold_s']:.2f} s (read + sha256 {ort['graph_s']:.2f} s, then session); "
        f"first ever, building it from the weights {build['cold_s']:.2f} s (weights + build + write {build['graph_s']:.2f} s); "
        f"NumPy {numpy_['cold_s']:.2f} s (sha256 + parse); int8 quantising {r['quantize']['quantize_s']:.1f} s "
        f"({r['quantize']['mb']:.0f} MB)"
        f"\n   int8 vs fp32, layers 2-{r['layers']}: frame cosine median {int8['frame_cos_median']:.4f}, "
        f"min {int8['frame_cos_min']:.3f}; cosine of the pooled mean, worst clip {int8['pooled_cos_min']:.4f}"
    )


def _child_main(argv: list[str]) -> None:
    kind, *rest = argv
    if kind == "quantize":
        out = _quantize(int(rest[0]), rest[1])
    else:
        name, layers, clips, repeats, threads, tmp = rest
        out = _worker(name, int(layers), int(clips), int(repeats), int(threads), tmp)
    out.setdefault("peak_rss_mb", _peak_rss_mb())
    out.setdefault("tensorflow", "tensorflow" in sys.modules)
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child_main(sys.argv[2:])
    else:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            print_table(
                measure(layers=4, clips=int(sys.argv[1]) if len(sys.argv) > 1 else 16, repeats=3, tmp=Path(tmp))
            )

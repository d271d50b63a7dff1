"""Inference speed and footprint: serweb's batched NumPy path against the original apps' way.

    python -m bench.bench_inference [BUNDLE] [--clips 64] [--repeats 5]

(a) logmel-stats features + model for 64 synthetic 4 s clips judged as one batch, on one core;
(b) the original apps' way on the same clips: librosa ``zcr-rms-mfcc`` then ``model.predict`` of a
    Keras ``cnn1d`` one clip at a time, on one core;
(c) wall time of a fresh process that imports mlcore, loads the bundle and judges one file;
(d) peak RSS of each measuring process, and whether it imported TensorFlow.

Each figure is measured in a child process whose thread-count variables are set before any import
and which pins itself to one CPU (like ``taskset -c N``).  Synthetic clips are made at each bundle's own
sample rate.  Without a default bundle a stats-MLP bundle with random weights is built in a temporary
folder (its speed is the same; its answers are not).  ``bench.bench_encoder`` reuses these children.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SR = 22050


def threads_env(n: int) -> dict[str, str]:
    """Thread-count variables for a child process that may use ``n`` threads (read before any import)."""
    names = ("OMP", "OPENBLAS", "MKL", "NUMBA", "TF_INTRAOP", "TF_INTEROP")
    return {**{f"{name}_NUM_THREADS": str(n) for name in names}, "TF_CPP_MIN_LOG_LEVEL": "2"}


def speech_like(rng: np.random.Generator, *, seconds: float = 4.0, sr: int = SR) -> np.ndarray:
    """Synthetic speech (espeak-ng, ``tests/audio_factory.spoken``): the voice detector refuses tones, as
    it should, so the bench speaks.  Shape (n,)."""
    from tests.audio_factory import spoken

    return spoken(rng, seconds=seconds, sr=sr, f0=float(rng.uniform(100, 260)))


def _clips(n: int, seed: int = 7, *, sr: int = SR) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [speech_like(rng, sr=sr) for _ in range(n)]


def bundle_sr(bundle: Path) -> int:
    """The sample rate a bundle's features work at (from its features.json), without loading it."""
    return int(json.loads((Path(bundle) / "features.json").read_text())["params"].get("sr", SR))


def _pin_one_core() -> int:
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def _peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux carries ``getrusage`` ru_maxrss across exec, so a child would report its parent's peak;
    VmHWM in /proc belongs to the child's own address space.  getrusage is the fallback elsewhere.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- child processes ----------------------------------------------------------------------------------


def _worker_serweb(bundle: str, n_clips: int, repeats: int) -> dict[str, Any]:
    from mlcore.serving.predictor import Predictor

    predictor = Predictor(bundle)
    clips = _clips(n_clips, sr=predictor.sr)
    predictor.predict_many(clips[:2])  # warm-up: mel basis, BLAS, caches
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        results = predictor.predict_many(clips)
        wall.append((time.perf_counter() - t0) / n_clips)
        cpu.append((time.process_time() - c0) / n_clips)
    assert all(not isinstance(r, Exception) for r in results)
    return {
        "ms_per_clip": 1000 * statistics.median(wall),
        "cpu_ms_per_clip": 1000 * statistics.median(cpu),
        "backend": predictor.backend,
        "features": predictor.extractor.name,
        "sr": predictor.sr,
    }


def _worker_original(n_clips: int) -> dict[str, Any]:
    import keras

    from mlcore.features.registry import get_extractor

    extractor = get_extractor("zcr-rms-mfcc")
    try:
        from mlcore.models.architectures import build

        model, which = build("cnn1d", input_shape=extractor.output_shape), "mlcore.models.architectures cnn1d"
    except ImportError:
        model = keras.Sequential(
            [keras.Input(extractor.output_shape), keras.layers.Dense(2048, "relu"), keras.layers.Dense(8, "softmax")]
        )
        which = "Keras Dense 2376-2048-8 stand-in"
    clips = _clips(n_clips)
    model.predict(extractor(clips[0])[None], verbose=0)  # warm-up: graph tracing, librosa/numba JIT
    wall, cpu = [], []
    for y in clips:
        t0, c0 = time.perf_counter(), time.process_time()
        model.predict(extractor(y)[None], verbose=0)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        "ms_per_clip": 1000 * statistics.median(wall),
        "cpu_ms_per_clip": 1000 * statistics.median(cpu),
        "model": which,
        "params": int(model.count_params()),
    }


def _worker_first(bundle: str, wav: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    from mlcore.serving.predictor import Predictor

    t1 = time.perf_counter()
    predictor = Predictor(bundle)
    t2 = time.perf_counter()
    predictor.predict(wav)
    t3 = time.perf_counter()
    return {"import_s": t1 - t0, "load_s": t2 - t1, "predict_s": t3 - t2, "librosa": "librosa" in sys.modules}


def _child_main(argv: list[str]) -> None:
    kind, *rest = argv
    cpu = _pin_one_core()
    if kind == "random-bundle":
        print("RESULT " + json.dumps({"path": str(_random_bundle(Path(rest[0])))}), flush=True)
        return
    if kind == "serweb":
        out = _worker_serweb(rest[0], int(rest[1]), int(rest[2]))
    elif kind == "original":
        out = _worker_original(int(rest[0]))
    else:
        out = _worker_first(rest[0], rest[1])
    report({**out, "cpu": cpu})


def report(out: dict[str, Any]) -> None:
    """A child's last word: its figures, its peak RSS and whether it imported TensorFlow."""
    out.update(peak_rss_mb=_peak_rss_mb(), tensorflow="tensorflow" in sys.modules)
    print("RESULT " + json.dumps(out), flush=True)


def run_child(*args: str, module: str = "bench.bench_inference", threads: int = 1) -> tuple[dict[str, Any], float]:
    """Run ``python -m module --child *args`` with ``threads`` threads; its RESULT and its wall seconds."""
    env = {**os.environ, **threads_env(threads)}
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba-cache"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", module, "--child", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    wall = time.perf_counter() - t0
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"bench child {args[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT ") :]), wall


# --- parent -------------------------------------------------------------------------------------------


def _random_bundle(out: Path) -> Path:
    """A stats-MLP bundle with untrained weights, for timing when no trained bundle is installed."""
    from mlcore.serving.smoke import build_test_bundle

    return build_test_bundle(out, name="bench-random", architecture="stats-mlp", fit_scaler=True)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--child"]:
        _child_main(argv[1:])
        return 0
    from mlcore.models import DEFAULT_BUNDLE

    parser = argparse.ArgumentParser(prog="python -m bench.bench_inference")
    parser.add_argument("bundle", nargs="?", type=Path, default=None, help=f"default: {DEFAULT_BUNDLE}")
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--first-runs", type=int, default=3)
    args = parser.parse_args(argv)

    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        bundle = args.bundle or DEFAULT_BUNDLE
        note = f"bundle {bundle}"
        if args.bundle is None and not DEFAULT_BUNDLE.is_dir():
            # Built in a child so this parent never holds TensorFlow's memory.
            bundle = Path(run_child("random-bundle", str(Path(tmp) / "bench-random"))[0]["path"])
            note = f"no default bundle at {DEFAULT_BUNDLE}: timing a stats-mlp bundle with random weights"
        import soundfile as sf

        wav = Path(tmp) / "clip.wav"
        sr = bundle_sr(bundle)
        sf.write(wav, _clips(1, seed=11, sr=sr)[0], sr, subtype="PCM_16")

        print(f"{note}; {args.clips} synthetic 4 s clips; every figure on one pinned core", flush=True)
        serweb, _ = run_child("serweb", str(bundle), str(args.clips), str(args.repeats))
        original, _ = run_child("original", str(args.clips))
        run_child("first", str(bundle), str(wav))  # warms the numba cache and the OS file cache
        firsts = [run_child("first", str(bundle), str(wav)) for _ in range(args.first_runs)]
    walls = [w for _, w in firsts]
    first = firsts[walls.index(statistics.median(walls))][0]
    first_wall = statistics.median(walls)
    ratio = original["ms_per_clip"] / serweb["ms_per_clip"]
    cpu_ratio = original["cpu_ms_per_clip"] / serweb["cpu_ms_per_clip"]

    def per_clip(child: dict[str, Any]) -> str:
        return f"{child['ms_per_clip']:.2f} / {child['cpu_ms_per_clip']:.2f} ms"

    rows = [
        (
            f"(a) serweb: features+model, batch of {args.clips}",
            per_clip(serweb),
            "<= 10 ms",
            serweb["ms_per_clip"] <= 10,
            serweb,
        ),
        ("(b) original: librosa + model.predict x1", per_clip(original), "", None, original),
        ("    throughput ratio (b)/(a)", f"{ratio:.0f}x / {cpu_ratio:.0f}x", ">= 10x", ratio >= 10, None),
        ("(c) fresh process: import+load+predict", f"{first_wall:.2f} s", "<= 3 s", first_wall <= 3, first),
    ]
    print(f"\n{'measure (figures: wall / cpu time)':44} {'figure':>20} {'target':>9}  met  {'peak RSS':>9}  tensorflow")
    for name, figure, target, ok, child in rows:
        met = "" if ok is None else ("yes" if ok else "NO")
        rss = f"{child['peak_rss_mb']:.0f} MB" if child else ""
        tf = ("yes" if child["tensorflow"] else "no") if child else ""
        print(f"{name:44} {figure:>20} {target:>9}  {met:3}  {rss:>9}  {tf}")
    print(
        f"\n(a) backend {serweb['backend']}; (b) model {original['model']} ({original['params']:,} parameters)"
        f"\n(c) median of {len(walls)} runs after one warm-up run (NUMBA_CACHE_DIR warm): "
        f"import {first['import_s']:.2f} s, load {first['load_s']:.2f} s, first predict {first['predict_s']:.2f} s "
        f"(first decode, scipy.fft and BLAS warm-up; librosa imported: {'yes' if first.get('librosa') else 'no'})"
        f"\nload average before/after: {load_before} / {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
        f"on {os.cpu_count()} CPUs; cpu time excludes waiting for a busy core, wall time does not"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

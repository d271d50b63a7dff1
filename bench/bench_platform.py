"""Platform benchmarks: a task's steps timed in-process (the platform's share beyond the model),
upload-to-result latency, worker throughput vs the original apps' way, and history/CSV with 100,000
predictions in PostgreSQL.  Prints figures; asserts nothing.

    .venv/bin/python -m bench.bench_platform [--steps 120] [--clips 200] [--rows 100000] [--long-minutes 10] [--only-long]

Needs PostgreSQL and Redis (BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/serweb_bench,
dropped and re-created; BENCH_BROKER_URL, default redis://127.0.0.1:6379/13, purged).
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/serweb_bench")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")
SR = 22050


def _recreate_database() -> None:
    import psycopg

    parts = urlsplit(DB_URL)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _setup(upload_root: Path) -> None:
    os.environ.update(
        DATABASE_URL=DB_URL,
        CELERY_BROKER_URL=BROKER_URL,
        UPLOAD_ROOT=str(upload_root),
        MODEL_ROOT=str(upload_root.parent / "models"),
        DJANGO_SETTINGS_MODULE="serweb.settings",
        ALLOWED_HOSTS="testserver,localhost",
    )
    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba-cache"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _bundle(tmp: Path) -> Path:
    from predictions.pipeline.registry import DEFAULT_BUNDLE

    if (DEFAULT_BUNDLE / "manifest.json").is_file():
        return DEFAULT_BUNDLE
    from mlcore.serving.smoke import build_test_bundle

    print("(shipped bundle not installed: using a small untrained stats-MLP bundle)")
    return build_test_bundle(tmp / "bundle", name="bench", architecture="stats-mlp")


def _clip_bytes(seed: int, seconds: float = 4.0) -> bytes:
    import numpy as np
    import soundfile as sf

    from tests.audio_factory import spoken  # synthetic speech (espeak-ng): the voice detector refuses tones

    rng = np.random.default_rng(seed)
    y = spoken(rng, seconds=seconds, sr=SR, f0=120 + 80 * rng.random())
    buf = io.BytesIO()
    sf.write(buf, y.astype("float32"), SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _start_worker(log: Path, *, concurrency: int = 1) -> subprocess.Popen:
    from serweb.celery import app

    app.control.purge()
    cmd = [sys.executable, "-m", "celery", "-A", "serweb", "worker", "-Q", "inference,maintenance", "--pool=prefork",
           "-c", str(concurrency), "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"bench-{os.getpid()}@%h",
           "--loglevel=INFO"]  # fmt: skip
    worker = subprocess.Popen(cmd, cwd=ROOT, env=os.environ.copy(), stdout=open(log, "w"), stderr=subprocess.STDOUT)  # noqa: SIM115
    deadline = time.monotonic() + 180
    while "model " not in log.read_text() and "ready" not in log.read_text():
        if time.monotonic() > deadline or worker.poll() is not None:
            raise SystemExit(f"worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return worker


def _pool_peak_rss_mb(parent: int) -> float:
    """The largest peak RSS (VmHWM) among a worker's pool processes, in MB (Linux /proc; 0 elsewhere)."""
    peak = 0.0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(parent) and "VmHWM" in fields:
            peak = max(peak, int(fields["VmHWM"].split()[0]) / 1024)
    return peak


def _wait_done(job_ids: list[int], timeout: float = 600, poll_s: float = 0.005) -> None:
    from predictions.models import AudioFile

    deadline = time.monotonic() + timeout
    while AudioFile.objects.filter(job_id__in=job_ids, status__in=["queued", "processing"]).exists():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the worker")
        time.sleep(poll_s)


def bench_latency(client, n: int) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from predictions.models import Job

    clip = _clip_bytes(0)
    times = []
    for i in range(n + 2):
        t0 = time.perf_counter()
        response = client.post("/upload/", {"files": [SimpleUploadedFile(f"lat{i}.wav", clip)]})
        job_id = int(response["Location"].strip("/").split("/")[-1])
        _wait_done([job_id])
        if i >= 2:  # the first uploads warm caches and connections
            times.append(time.perf_counter() - t0)
    assert Job.objects.filter(status="finished").count() >= n
    print(f"latency  upload-to-result, one 4 s clip, warm worker: median {statistics.median(times) * 1000:.0f} ms, "
          f"p90 {sorted(times)[int(0.9 * len(times))] * 1000:.0f} ms over {n}")  # fmt: skip


def bench_throughput(user, k: int, batch: int = 1) -> float:
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile

    from predictions.pipeline import dispatch, jobs

    clips = [_clip_bytes(i) for i in range(20)]
    real_dispatch = dispatch.dispatch_quietly
    dispatch.dispatch_quietly = lambda *a, **k: 0  # store first, publish inside the timed region
    try:
        job = jobs.create_job(user, [SimpleUploadedFile(f"t{i}.wav", clips[i % 20]) for i in range(k)])
    finally:
        dispatch.dispatch_quietly = real_dispatch
    # Publish the whole upload at once (the worker's own follow-up dispatches then find nothing left).
    settings.INFERENCE_BATCH_SIZE, settings.DISPATCH_WINDOW_PER_USER = batch, k
    t0 = time.perf_counter()
    dispatch.dispatch([user.pk])
    _wait_done([job.pk], poll_s=0.1)
    elapsed = time.perf_counter() - t0
    settings.INFERENCE_BATCH_SIZE, settings.DISPATCH_WINDOW_PER_USER = 1, 2
    rate = k / elapsed
    unit = "one task per file" if batch == 1 else f"tasks of {batch} files"
    print(f"throughput  one worker process, {unit}, {k} four-second clips: {rate:.1f} clips/s ({elapsed:.1f} s)")
    return rate


def bench_worker_steps(user, n: int) -> None:
    """The worker's work for one file, step by step, in this process (no broker, no pool): ``n`` files of
    one job analysed one task at a time as ``tasks._run`` does, each step's median time.  The model's
    share against the platform's own (claim, store, recount, dispatch): what a task costs beyond the model."""
    import uuid
    from contextlib import ExitStack
    from unittest import mock

    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile

    from predictions.models import AudioFile
    from predictions.pipeline import dispatch, jobs, processing

    n = min(n, settings.UPLOAD_MAX_FILES)  # one upload
    clips = [_clip_bytes(i) for i in range(20)]
    with mock.patch.object(dispatch, "dispatch_quietly", return_value=0):  # published below, one at a time
        job = jobs.create_job(user, [SimpleUploadedFile(f"s{i}.wav", clips[i % 20]) for i in range(n)])
    times: dict[str, list[float]] = {}

    def timed(name: str, fn):
        def call(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                times.setdefault(name, []).append(time.perf_counter() - t)

        return call

    # save_prediction: how a file was stored before store_predictions (a bench run on an older commit).
    names = ("claim", "get_predictor", "_analyse", "prediction_row", "store_predictions", "save_prediction", "users_of")
    steps = [name for name in names if hasattr(processing, name)]
    with ExitStack() as stack:
        for name in steps:
            stack.enter_context(mock.patch.object(processing, name, timed(name, getattr(processing, name))))
        task = timed("task", lambda fid: (processing.process([fid], processing.Delivery(task_id=str(uuid.uuid4()))),
                                          dispatch.dispatch_quietly(processing.users_of([fid]))))  # fmt: skip
        for fid in AudioFile.objects.filter(job=job).order_by("id").values_list("pk", flat=True):
            task(fid)
    median = {k: statistics.median(v[min(10, len(v) // 2) :]) * 1000 for k, v in times.items()}
    platform = median["task"] - median["_analyse"]
    print("worker steps  one file per task, in-process, median ms: "
          + ", ".join(f"{k.strip('_')} {median[k]:.1f}" for k in (*steps, "task") if k in median)
          + f"; beyond the model {platform:.1f} ms ({platform / median['task']:.0%} of the task)")  # fmt: skip


def bench_original_way(k: int) -> float:
    """The original apps: per request, librosa load + ZCR/RMS/MFCC features + keras model.predict."""
    import keras
    import librosa
    import numpy as np

    from mlcore.features.registry import get_extractor

    ex = get_extractor("zcr-rms-mfcc")
    n = ex.output_shape[0]
    x = keras.Input((n, 1))
    h = keras.layers.Conv1D(64, 5, padding="same", activation="relu")(x)
    h = keras.layers.MaxPooling1D(5, strides=2, padding="same")(h)
    h = keras.layers.Conv1D(128, 5, padding="same", activation="relu")(h)
    h = keras.layers.MaxPooling1D(5, strides=2, padding="same")(h)
    h = keras.layers.Flatten()(h)
    model = keras.Model(x, keras.layers.Dense(8, activation="softmax")(keras.layers.Dense(64, activation="relu")(h)))
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i in range(10):
            p = Path(d) / f"{i}.wav"
            p.write_bytes(_clip_bytes(i))
            paths.append(p)
        model.predict(np.zeros((1, n, 1), np.float32), verbose=0)
        ex(librosa.load(paths[0], sr=SR)[0])
        t0 = time.perf_counter()
        for i in range(k):
            y, _ = librosa.load(paths[i % 10], sr=SR, duration=2.5, offset=0.6)
            feats = ex(np.pad(y, (int(0.6 * SR), 0)))
            model.predict(feats[None, :, None], verbose=0)
        elapsed = time.perf_counter() - t0
    rate = k / elapsed
    print(f"original way  features + model.predict per request in the web process: {rate:.1f} clips/s ({k} clips)")
    return rate


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_history(client, user, rows: int) -> None:
    from datetime import timedelta

    import numpy as np
    from django.db import connection
    from django.utils import timezone

    from mlcore.labels import EMOTIONS
    from predictions.models import AudioFile, Job, ModelVersion, Prediction

    version = ModelVersion.active()
    rng = np.random.default_rng(0)
    start = timezone.now() - timedelta(days=365)
    job = Job.objects.create(user=user, status="finished")
    t0 = time.perf_counter()
    batch = 10_000
    for lo in range(0, rows, batch):
        n = min(batch, rows - lo)
        stamps = [start + timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, 365 * 86400, n))]
        files = AudioFile.objects.bulk_create(
            [AudioFile(job=job, user=user, original_name=f"r{lo + i}.wav", status="done") for i in range(n)]
        )
        probs = rng.dirichlet(np.ones(8), n)
        preds = []
        for f, ts, p in zip(files, stamps, probs, strict=True):
            top = int(p.argmax())
            preds.append(Prediction(file=f, user=user, model_version=version, uploaded_at=ts, top_emotion=EMOTIONS[top],
                                    confidence=float(p[top]), duration_s=4.0, **{f"p_{e}": float(v) for e, v in zip(EMOTIONS, p, strict=True)}))  # fmt: skip
        Prediction.objects.bulk_create(preds)
        AudioFile.objects.filter(pk__in=[f.pk for f in files]).update(created_at=stamps[0])
    # Spread the files' upload times like the predictions' (one UPDATE ... FROM).
    with connection.cursor() as c:
        c.execute(
            "UPDATE predictions_audiofile f SET created_at = p.uploaded_at FROM predictions_prediction p "
            "WHERE p.file_id = f.id AND f.user_id = %s",
            [user.pk],
        )
        c.execute("ANALYZE")
    print(f"history  inserted {rows} predictions in {time.perf_counter() - t0:.1f} s")
    for label, url in (("history page", "/history/"), ("history page, filtered", "/history/?emotion=happy&start="
                       + (start + timedelta(days=100)).date().isoformat()), ("history page 50", "/history/?page=50")):  # fmt: skip
        times = []
        for _ in range(22):
            t = time.perf_counter()
            assert client.get(url).status_code == 200
            times.append(time.perf_counter() - t)
        print(f"history  {label}: median {statistics.median(times[2:]) * 1000:.0f} ms over 20")
    rss_before, peak_before = _rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    response = client.get("/history.csv")
    n_lines, peak_rss = 0, rss_before
    for i, chunk in enumerate(response.streaming_content):
        n_lines += chunk.count(b"\n")
        if i % 20 == 0:
            peak_rss = max(peak_rss, _rss_mb())
    elapsed = time.perf_counter() - t
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"csv  {n_lines - 1} rows in {elapsed:.2f} s = {(n_lines - 1) / elapsed:,.0f} rows/s; RSS {rss_before:.0f} MB "
          f"before, {peak_rss:.0f} MB peak while streaming; process peak {peak_before:.0f} -> {peak_after:.0f} MB")  # fmt: skip


def bench_long_file(tmp: Path, minutes: float, workers: tuple[int, ...] = (1, 2)) -> None:
    """Upload-to-result seconds of one ``minutes``-long recording on 1, then 2 worker processes (its
    parts shared between them), and on 1 in one piece (as before parts): the speed-up and the parts' cost."""
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile

    from bench.bench_fairness import _long_recording, _set
    from predictions.models import AudioFile
    from predictions.pipeline import jobs

    data = _long_recording(minutes)
    split = int(os.environ.get("SPLIT_FILES_OVER_S", "90"))
    times = {}
    for n, (processes, split_s) in enumerate([*((w, split) for w in workers), (1, 10**7)]):
        _set("SPLIT_FILES_OVER_S", split_s)
        worker = _start_worker(tmp / f"worker-long-{n}.log", concurrency=processes)
        try:
            user = get_user_model().objects.create_user(f"long-{n}", password="bench-password-123")
            # Warm every process (model loaded, graph sessions built) before the clock starts.
            warm = jobs.create_job(
                user, [SimpleUploadedFile(f"w{i}.wav", _clip_bytes(i)) for i in range(2 * processes)]
            )
            _wait_done([warm.pk], timeout=600, poll_s=0.2)
            t0 = time.perf_counter()
            job = jobs.create_job(user, [SimpleUploadedFile("long.wav", data)])
            _wait_done([job.pk], timeout=7200, poll_s=0.2)
            times[n] = time.perf_counter() - t0
            f = AudioFile.objects.get(job=job)
            rss = _pool_peak_rss_mb(worker.pid)
        finally:
            worker.terminate()
            worker.wait(timeout=120)
        how = f"in {f.parts} parts" if f.parts else "in one piece"
        print(f"long file  one {minutes:g}-minute recording {how} on {processes} worker process(es): "
              f"{times[n]:.1f} s upload to result ({f.status}); peak RSS of a pool process {rss:.0f} MB", flush=True)  # fmt: skip
    _set("SPLIT_FILES_OVER_S", split)
    print(f"long file ratio  1 process / {workers[-1]} processes: {times[0] / times[len(workers) - 1]:.2f}x; "
          f"in parts / in one piece on 1 process: {times[0] / times[len(workers)]:.2f}x")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-n", type=int, default=20)
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--batch", type=int, default=16, help="INFERENCE_BATCH_SIZE for the batched run")
    parser.add_argument("--original-clips", type=int, default=40)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=120, help="files for the in-process step timing (0: skip)")
    parser.add_argument("--skip-worker", action="store_true", help="only the history/CSV part")
    parser.add_argument("--long-minutes", type=float, default=10.0, help="one recording this long (0: skip)")
    parser.add_argument("--only-long", action="store_true", help="only the long recording on 1 and 2 processes")
    args = parser.parse_args(argv)
    os.environ.setdefault("UPLOAD_MAX_DURATION_S", str(int(max(600, args.long_minutes * 60 + 60))))
    os.environ.setdefault("UPLOAD_MAX_DAILY_AUDIO_S", str(int(max(4 * 3600, args.long_minutes * 60 * 4))))
    # 16-bit WAV at 22.05 kHz is 2.6 MB a minute: an hour passes the default 50 MB per file.
    os.environ.setdefault("UPLOAD_MAX_FILE_BYTES", str(int(max(50 * 2**20, args.long_minutes * 3 * 2**20))))
    # One piece of a long recording must not meet the time limit (it would with an hour on a busy machine).
    os.environ.setdefault("CELERY_TASK_SOFT_TIME_LIMIT", "3600")
    os.environ.setdefault("CELERY_TASK_TIME_LIMIT", "3700")
    # One encoder thread per worker process, one process per core (as deployed): parts spread over processes.
    os.environ.setdefault("SERWEB_ENCODER_THREADS", "1")

    _recreate_database()
    with tempfile.TemporaryDirectory(prefix="serweb-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "uploads").mkdir()
        _setup(tmp / "uploads")
        from django.contrib.auth import get_user_model
        from django.test import Client

        from predictions.pipeline import registry

        registry.register_bundle(_bundle(tmp), activate=True)
        user = get_user_model().objects.create_user("bench", password="bench-password-123")
        client = Client()
        client.force_login(user)
        if args.long_minutes > 0 and not args.skip_worker:
            bench_long_file(tmp, args.long_minutes)
        if args.only_long:
            return 0
        if not args.skip_worker and args.steps > 0:
            bench_worker_steps(user, args.steps)
        if not args.skip_worker:
            worker = _start_worker(tmp / "worker.log")
            try:
                bench_latency(client, args.latency_n)
                bench_throughput(user, args.clips)
                rate = bench_throughput(user, args.clips, batch=args.batch)
            finally:
                worker.terminate()
                worker.wait(timeout=60)
            original = bench_original_way(args.original_clips)
            print(f"throughput ratio  platform (batched) / original way: {rate / original:.1f}x")
        bench_history(client, user, args.rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

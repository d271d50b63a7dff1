"""CPU cost of a long recording's window features: windows pooled from 10 s chunks (before) against each
window encoded on its own (now), both in one process, one thread, twice each.

``PYTHONPATH=. python scripts/research/window_cost.py [MINUTES]`` (default 3) joins CREMA-D clips into a
recording of that length.  The earlier extractor is read from git (commit 1c06469), so run it inside the
repository.
"""

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from mlcore.data import corpora
from mlcore.data.audio import load_audio
from mlcore.features import whisper_stats as new
from mlcore.features.speech import speech_frames
from mlcore.serving.windows import window_bounds

BEFORE = "1c06469"
threadpool_limits(1)
source = subprocess.run(
    ["git", "show", f"{BEFORE}:mlcore/features/whisper_stats.py"], capture_output=True, text=True, check=True
).stdout.replace("\n@register\n", "\n")
path = Path(tempfile.mkdtemp()) / "whisper_stats_before.py"
path.write_text(source)
spec = importlib.util.spec_from_file_location("whisper_stats_before", path)
old = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = old
spec.loader.exec_module(old)
old.ENCODER_THREADS = new.ENCODER_THREADS = 1
os.environ["SERWEB_ENCODER_THREADS"] = "1"

sr = 16000
minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
rows = corpora.list_corpus("crema-d", corpora.corpus_dir("crema-d"))[:80]
y = np.concatenate([load_audio(r.path, sr=sr) for r in rows])
y = np.tile(y, int(np.ceil(minutes * 60 * sr / y.size)))[: int(minutes * 60 * sr)]
bounds = window_bounds(n_samples=y.size, sr=sr, window_s=4.0, hop_s=2.0)
speech = speech_frames(y, sr=sr, hop=320)
for name, module in (("10 s chunks (before)", old), ("windows alone (now)", new)) * 2:
    extractor = module.WhisperStats()
    extractor.load()
    c0, t0 = time.process_time(), time.perf_counter()
    extractor.window_features(y, bounds, speech=speech)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    print(f"{name}: {minutes:g} min, {len(bounds)} windows: CPU {cpu:.1f} s, wall {wall:.1f} s", flush=True)

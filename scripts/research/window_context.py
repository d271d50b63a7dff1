"""Why windows of a joined recording are judged worse than the clips they are made of.

The same joined recordings as ``mood-changes`` (held-out speakers, four emotions in 15 s blocks), each
4 s window judged three ways by the held-out bundle:

- ``serving``: the recording's timeline (the encoder run over 10 s chunks, windows pooled from them);
- ``alone``: the window's audio cut out and judged as a clip of its own (the encoder sees only it);
- ``clips``: each clip of the recording judged on its own (the clip accuracy ``mood-changes`` prints).

Windows whose 4 s span more than one block are scored apart ("mixed"), since no answer fits them.
Run from the repository root after ``train-corpora --hold-out ... --out runs/heldout``.
"""

import os
import sys
from pathlib import Path

import numpy as np

from mlcore.data import corpora
from mlcore.labels import EMOTIONS
from mlcore.serving.predictor import Predictor
from mlcore.training.changes import _recordings, _truth_at

bundle = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/heldout/bundle")
if os.environ.get("CHUNK_S"):  # the serving path's chunk length, to compare (default: as served)
    from mlcore.features import whisper_stats

    whisper_stats.CHUNK_SAMPLES = int(float(os.environ["CHUNK_S"]) * 16000)
held = corpora.parse_speakers("ravdess:17-20,crema-d:1041-1050")
rows = []
for c in corpora.CORPORA:
    rows += [r for r in corpora.list_corpus(c, corpora.corpus_dir(c)) if r.speaker in held]
p = Predictor(bundle)
score = {k: [0, 0] for k in ("serving pure", "alone pure", "serving mixed", "alone mixed")}
by_corpus: dict[str, list[int]] = {}
for y, blocks, used in _recordings(rows, n=24, block_s=15.0, sr=p.sr, rng=np.random.default_rng(0)):
    a = p.analyse(y)
    cuts = [y[int(w.start_s * p.sr) : int(w.end_s * p.sr)] for w in a.timeline]
    alone = p.analyse_many(cuts)
    for w, solo in zip(a.timeline, alone, strict=True):
        truth = _truth_at(blocks, (w.start_s + w.end_s) / 2)
        pure = _truth_at(blocks, w.start_s + 0.01) == _truth_at(blocks, w.end_s - 0.01)
        kind = "pure" if pure else "mixed"
        serving_top = max(EMOTIONS, key=w.probabilities.get)
        score[f"serving {kind}"][0] += serving_top == truth
        score[f"serving {kind}"][1] += 1
        if not isinstance(solo, Exception):
            score[f"alone {kind}"][0] += solo.emotion == truth
        score[f"alone {kind}"][1] += 1
        if pure:
            c = by_corpus.setdefault(used[0].corpus, [0, 0, 0])
            c[0] += serving_top == truth
            c[1] += (not isinstance(solo, Exception)) and solo.emotion == truth
            c[2] += 1
for k, (r, n) in score.items():
    print(f"{k:15s} {r / max(n, 1):.3f}  ({n} windows)")
for c, (s, al, n) in by_corpus.items():
    print(f"{c:8s} pure windows: serving {s / n:.3f}, alone {al / n:.3f} ({n})")

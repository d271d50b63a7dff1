"""Which smoothing of window posteriors helps on joined recordings of held-out speakers (mood-changes data)."""

from pathlib import Path

import numpy as np

from mlcore.data import corpora
from mlcore.labels import EMOTIONS
from mlcore.serving.predictor import Predictor
from mlcore.serving.segments import smooth_path
from mlcore.training.changes import _recordings, _truth_at

held = corpora.parse_speakers("ravdess:17-20,crema-d:1041-1050")
rows = []
for c in corpora.CORPORA:
    rows += [r for r in corpora.list_corpus(c, corpora.corpus_dir(c)) if r.speaker in held]
p = Predictor(Path("runs/heldout/bundle"))
data = []
for y, blocks, _used in _recordings(rows, n=24, block_s=15.0, sr=p.sr, rng=np.random.default_rng(0)):
    a = p.analyse(y)
    P = np.array([[w.probabilities[e] for e in EMOTIONS] for w in a.timeline])
    W = np.array([w.speech for w in a.timeline])
    truth = [EMOTIONS.index(_truth_at(blocks, (w.start_s + w.end_s) / 2)) for w in a.timeline]
    data.append((P, W, np.array(truth)))
np.save("runs/heldout/smooth_data.npy", np.array(data, dtype=object), allow_pickle=True)


def acc(fn):
    r = n = 0
    for P, W, t in data:
        path = fn(P, W)
        r += (path == t).sum()
        n += len(t)
    return round(r / n, 3)


print("raw", acc(lambda P, W: P.argmax(1)))
for pen in (0.1, 0.25, 0.5, 1.0):
    print("viterbi", pen, acc(lambda P, W, pen=pen: smooth_path(P, W, switch_penalty=pen)))


def mean_filter(P, W, k, *, log=False):
    """Each window's (log-)probabilities averaged with its k neighbours on each side, by speech share."""
    X = np.log(np.clip(P, 1e-6, None)) if log else P
    out = np.zeros_like(P)
    for i in range(len(P)):
        lo, hi = max(0, i - k), min(len(P), i + k + 1)
        out[i] = np.average(X[lo:hi], axis=0, weights=W[lo:hi] + 1e-6)
    return out.argmax(1)


def vote(P, W, k):
    """Each window's top emotion replaced by the most frequent top among it and its k neighbours."""
    A = P.argmax(1)
    out = A.copy()
    for i in range(len(P)):
        lo, hi = max(0, i - k), min(len(P), i + k + 1)
        out[i] = np.bincount(A[lo:hi], minlength=8).argmax()
    return out


for k in (1, 2, 3):
    print("mean filter ±", k, acc(lambda P, W, k=k: mean_filter(P, W, k)))
    print("log-mean filter ±", k, acc(lambda P, W, k=k: mean_filter(P, W, k, log=True)))
    print("vote ±", k, acc(lambda P, W, k=k: vote(P, W, k)))

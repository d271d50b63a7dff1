"""Attention pooling against mean pooling of the encoder's speech frames, on the cv-corpora folds.

``python scripts/research/attention_pooling.py CACHE_DIR {mean,attention} [--epochs 40]``

Every original clip of RAVDESS and CREMA-D is encoded once (layers 2-4, 1536 values a frame) and its
frames averaged in 80 ms segments (4 frames), each segment weighted by its speech frames (the voice
detector's mask, as serving pools); at most 64 segments (5.1 s) a clip, cached in CACHE_DIR as
float16.  Both heads read the same segments and differ in one thing only:

- ``mean``: the speech-weighted mean of the segments, i.e. exactly the pooled features the shipped head
  reads, then Dropout 0.4, Dense 128, BatchNorm, GELU, Dropout 0.5, Dense 8 (``whisper-mlp``);
- ``attention``: the same head, but the segments (each through the shared Dense 128) are summed with
  learned weights: a softmax over segments of a small scorer (Dense 64 tanh, Dense 1) plus the log of
  each segment's speech share, so silence still has no say.

Trained as ``whisper-mlp`` is (40 epochs, AdamW 1e-3 with weight decay 0.01, label smoothing 0.1,
class- and corpus-balanced weights) except mixup, which has no meaning for sequences of different
lengths; no augmentation.  Scored as ``python -m mlcore cv-corpora`` scores: five speaker folds per
corpus, then leave-one-corpus-out over the shared emotions.  Research only; run from the repository
root with ``PYTHONPATH=.``.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from mlcore.data import corpora
from mlcore.labels import N_CLASSES
from mlcore.training.feature_cache import corpus_weights
from mlcore.training.fit import class_weights
from mlcore.training.scoring import per_corpus, restricted_metrics

LAYERS = (2, 3, 4)
SEGMENT = 4  # encoder frames (20 ms each) per segment
MAX_SEGMENTS = 64


def _segments(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(MAX_SEGMENTS, 1536) speech-weighted segment means and (MAX_SEGMENTS,) speech frames per segment."""
    from mlcore.data.audio import load_audio
    from mlcore.features.speech import speech_frames
    from mlcore.features.whisper_stats import WhisperStats

    ex = WhisperStats()
    y = load_audio(path, sr=ex.sr)
    states = ex.load().encode(y)
    x = np.concatenate([states[i] for i in LAYERS], axis=1).astype(np.float64)
    speech = speech_frames(y, sr=ex.sr, hop=ex.hop_length)[: len(x)].astype(np.float64)
    speech = np.pad(speech, (0, len(x) - len(speech)))
    if speech.sum() < 2:  # as serving pools: (almost) no speech, every frame
        speech = np.ones(len(x))
    n = min(MAX_SEGMENTS, -(-len(x) // SEGMENT))
    seg = np.zeros((MAX_SEGMENTS, x.shape[1]), np.float32)
    w = np.zeros(MAX_SEGMENTS, np.float32)
    for s in range(n):
        part, weight = x[s * SEGMENT : (s + 1) * SEGMENT], speech[s * SEGMENT : (s + 1) * SEGMENT]
        w[s] = weight.sum()
        if w[s] > 0:
            seg[s] = weight @ part / w[s]
    return seg.astype(np.float16), w


def load_segments(rows: list[corpora.Row], cache: Path) -> tuple[np.ndarray, np.ndarray]:
    cache.mkdir(parents=True, exist_ok=True)
    xs, ws = cache / "segments.npy", cache / "weights.npy"
    if not xs.exists():
        from mlcore.training.feature_cache import one_thread_per_worker

        with ProcessPoolExecutor(2, initializer=one_thread_per_worker) as pool:
            out = list(pool.map(_segments, [str(r.path) for r in rows], chunksize=8))
        np.save(ws, np.stack([w for _, w in out]))
        np.save(xs, np.stack([s for s, _ in out]))
    return np.load(xs, mmap_mode="r"), np.load(ws)


def _head(kind: str) -> object:
    import keras
    from keras import layers as L

    seg = keras.Input((MAX_SEGMENTS, len(LAYERS) * 512))
    w = keras.Input((MAX_SEGMENTS,))
    x = L.Dense(128)(L.Dropout(0.4)(seg))  # linear: mean pooling before or after it is the same
    if kind == "mean":
        share = w / keras.ops.sum(w, axis=1, keepdims=True)
    else:
        score = L.Dense(1)(L.Dense(64, activation="tanh")(x))[..., 0]
        share = keras.ops.softmax(score + keras.ops.log(w + 1e-9), axis=1)
    pooled = keras.ops.einsum("bs,bsd->bd", share, x)
    h = L.Dropout(0.5)(L.Activation("gelu")(L.BatchNormalization()(pooled)))
    return keras.Model([seg, w], L.Dense(N_CLASSES, activation="softmax")(h))


def _fit_predict(kind, X, W, y, corp, train, test, *, epochs: int, seed: int = 0) -> np.ndarray:
    import keras

    keras.utils.set_random_seed(seed)
    # Standardised as the pooled features are (mean and std of training clips' pooled means): an affine
    # map per column, so it commutes with any weighted mean of segments.
    pooled = np.einsum("ns,nsd->nd", W[train] / W[train].sum(1, keepdims=True), X[train].astype(np.float32))
    mu, sd = pooled.mean(0), pooled.std(0) + 1e-6
    weights_of = np.zeros(len(y), np.float32)
    weights_of[train] = class_weights(y[train])[y[train]] * corpus_weights(corp[train])

    class Batches(keras.utils.PyDataset):
        def __init__(self, idx, shuffle):
            super().__init__()
            self.idx, self.shuffle, self.rng = idx, shuffle, np.random.default_rng(seed)
            self.order = self.rng.permutation(len(idx)) if shuffle else np.arange(len(idx))

        def __len__(self):
            return -(-len(self.idx) // 128)

        def __getitem__(self, i):
            pick = np.sort(self.idx[self.order[i * 128 : (i + 1) * 128]])
            seg = (X[pick].astype(np.float32) - mu) / sd * (W[pick] > 0)[..., None]
            return (seg, W[pick]), np.eye(N_CLASSES, dtype=np.float32)[y[pick]], weights_of[pick]

        def on_epoch_end(self):
            if self.shuffle:
                self.order = self.rng.permutation(len(self.idx))

    model = _head(kind)
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-3, weight_decay=1e-2),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
    )
    model.fit(Batches(np.flatnonzero(train), True), epochs=epochs, verbose=0)
    test_idx = np.flatnonzero(test)
    batches = Batches(test_idx, False)
    return np.concatenate(
        [np.asarray(model((b[0][0], b[0][1]), training=False)) for b in map(batches.__getitem__, range(len(batches)))]
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("cache", type=Path)
    p.add_argument("kind", choices=("mean", "attention"))
    p.add_argument("--epochs", type=int, default=40)
    args = p.parse_args()
    rows = [r for c in corpora.CORPORA for r in corpora.list_corpus(c, corpora.corpus_dir(c))]
    X, W = load_segments(rows, args.cache)
    y = np.array([r.label for r in rows])
    spk = np.array([r.speaker for r in rows])
    corp = np.array([r.corpus for r in rows])
    oof = np.zeros((len(rows), N_CLASSES))
    for k, test_speakers in enumerate(corpora.speaker_folds(rows, n_folds=5)):
        test = np.isin(spk, sorted(test_speakers))
        oof[test] = _fit_predict(args.kind, X, W, y, corp, ~test, test, epochs=args.epochs)
        print(
            f"fold {k + 1}: "
            + ", ".join(f"{c} {s['accuracy']:.3f}" for c, s in per_corpus(y[test], oof[test], corp[test]).items()),
            flush=True,
        )
    result = {"cv": per_corpus(y, oof, corp), "leave_one_corpus_out": {}}
    for source in sorted(set(corp)):
        for target in sorted(set(corp) - {source}):
            probs = _fit_predict(args.kind, X, W, y, corp, corp == source, corp == target, epochs=args.epochs)
            m = restricted_metrics(y[corp == target], probs, corpora.SHARED_EMOTIONS)
            result["leave_one_corpus_out"][f"{source}->{target}"] = m
            print(f"leave-one-corpus-out {source}->{target}: accuracy {m['accuracy']:.3f}", flush=True)
    for c, s in result["cv"].items():
        print(f"{c}: accuracy {s['accuracy']:.3f}, macro-F1 {s['macro_f1']:.3f}")
    (args.cache / f"{args.kind}.json").write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()

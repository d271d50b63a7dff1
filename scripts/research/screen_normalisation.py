"""Screening: normalisations of the pooled features, by LOCO and speaker CV, logistic regression probe."""

import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression

from mlcore.data import corpora
from mlcore.features.registry import get_extractor
from mlcore.labels import EMOTIONS
from mlcore.training.feature_cache import corpus_features
from mlcore.training.scoring import corpus_emotions, restricted_metrics

ex = get_extractor("whisper-stats")
rows = corpora.list_corpus("ravdess", corpora.corpus_dir("ravdess")) + corpora.list_corpus(
    "crema-d", corpora.corpus_dir("crema-d")
)
F = corpus_features(rows, extractor=ex, progress=False)
ko = corpora.list_corpus("emotiontts-ko", corpora.corpus_dir("emotiontts-ko"))
K = corpus_features(ko, extractor=ex, progress=False)
folds = corpora.speaker_folds(rows)


def inst(X):  # per-utterance, per-layer: zero mean, unit std over the 512 dims
    Z = X.reshape(len(X), -1, 512)
    Z = (Z - Z.mean(-1, keepdims=True)) / (Z.std(-1, keepdims=True) + 1e-6)
    return Z.reshape(len(X), -1)


def l2(X):
    Z = X.reshape(len(X), -1, 512)
    Z = Z / np.linalg.norm(Z, axis=-1, keepdims=True)
    return Z.reshape(len(X), -1)


def by_group(X, groups, std=True):
    X = X.copy()
    for g in np.unique(groups):
        m = groups == g
        X[m] -= X[m].mean(0)
        if std:
            X[m] /= X[m].std(0) + 1e-6
    return X


NORMS = {
    "none": lambda X, spk, corp: X,
    "utterance": lambda X, spk, corp: inst(X),
    "speaker-mean": lambda X, spk, corp: by_group(X, spk, std=False),
    "speaker-z": lambda X, spk, corp: by_group(X, spk),
    "corpus-z": lambda X, spk, corp: by_group(X, corp),
}


def fitpred(Xtr, ytr, wtr, Xte, C=0.05):
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    clf = LogisticRegression(C=C, max_iter=150, class_weight="balanced", tol=1e-3)
    clf.fit((Xtr - mu) / sd, ytr, sample_weight=wtr)
    P = np.zeros((len(Xte), 8))
    P[:, clf.classes_] = clf.predict_proba((Xte - mu) / sd)
    return P


def cw(c):
    n, inv, cnt = np.unique(c, return_inverse=True, return_counts=True)
    return (len(c) / (len(n) * cnt))[inv]


def main() -> None:
    for name in [a for a in sys.argv[1:] if not a.startswith("--")] or NORMS:
        f = NORMS[name]
        X = f(F.X, F.speakers, F.corpora)
        XK = f(K.X, K.speakers, K.corpora)
        res = {}
        # LOCO
        for s, t in (("crema-d", "ravdess"), ("ravdess", "crema-d")):
            tr, te = F.corpora == s, F.corpora == t
            P = fitpred(X[tr], F.y[tr], None, X[te])
            res[f"{s}->{t}"] = restricted_metrics(F.y[te], P, corpora.SHARED_EMOTIONS)["accuracy"]
        print(name, {k: round(v, 3) for k, v in res.items()}, flush=True)
        if "--loco-only" in sys.argv:
            continue
        # CV (2 folds of 5 for speed)
        oof = np.zeros((len(X), 8))
        done = np.zeros(len(X), bool)
        for k in (0, 2):
            te = np.isin(F.speakers, sorted(folds[k]))
            tr = ~te
            oof[te] = fitpred(X[tr], F.y[tr], cw(F.corpora[tr]), X[te])
            done |= te
        for c in ("ravdess", "crema-d"):
            m = done & (F.corpora == c)
            res[c] = restricted_metrics(F.y[m], oof[m], corpus_emotions(c))["accuracy"]
        # Korean (evaluation only: a model trained on everything, never tuned on it)
        P = fitpred(X, F.y, cw(F.corpora), XK)
        res["korean4"] = restricted_metrics(K.y, P, corpus_emotions("emotiontts-ko"))["accuracy"]
        res["korean8"] = float((P.argmax(1) == K.y).mean())
        res["korean_pred_counts"] = {EMOTIONS[i]: int((P.argmax(1) == i).sum()) for i in range(8)}
        print(name, json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in res.items()}), flush=True)


if __name__ == "__main__":
    main()

"""Does normalising within a job help when the job is not balanced over emotions?  LOCO, logistic regression.
Train on source speakers normalised by their own mean; test each target speaker normalised by the mean
of (a) all their clips, (b) clips of k random emotions of theirs (a job of k moods), (c) nothing."""

import sys

import numpy as np

sys.path.insert(0, "scripts/research")
from screen_normalisation import F, by_group, corpora, fitpred, restricted_metrics  # noqa: E402

rng = np.random.default_rng(0)
for s, t in (("crema-d", "ravdess"), ("ravdess", "crema-d")):
    tr, te = F.corpora == s, F.corpora == t
    Xtr = by_group(F.X[tr], F.speakers[tr], std=False) + F.X[tr].mean(0)
    res = {}
    for k in ("all", 1, 2, 3, "none"):
        Xte = F.X[te].copy()
        yte = F.y[te]
        spk = F.speakers[te]
        if k != "none":
            for g in np.unique(spk):
                m = spk == g
                if k == "all":
                    ref = m
                else:
                    emos = rng.choice(np.unique(yte[m]), size=k, replace=False)
                    ref = m & np.isin(yte, emos)
                Xte[m] = Xte[m] - Xte[ref].mean(0) + F.X[tr].mean(0)
        P = fitpred(Xtr, F.y[tr], None, Xte)
        res[k] = round(restricted_metrics(yte, P, corpora.SHARED_EMOTIONS)["accuracy"], 3)
    print(s, "->", t, res, flush=True)

"""Recordings that change mood: ``python -m mlcore mood-changes BUNDLE --speakers ...``.

Builds long recordings by joining clips of held-out speakers (one speaker per recording, four
emotions in blocks of about ``--block-s`` seconds each, as a person who changes mood would), runs the
bundle's predictor on them (the serving path), and reports, before and after smoothing the timeline
(``mlcore.serving.segments``): window accuracy (a window's truth is the emotion at its centre) and
boundary error
(for each true change, the distance to the nearest segment boundary), beside the clip accuracy of the
same clips judged one by one.  The speakers must be ones the bundle never heard: the command refuses
any speaker in the bundle's ``train_corpora``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.data import corpora
from mlcore.data.corpora import Row
from mlcore.labels import EMOTIONS


def _recordings(
    rows: list[Row], *, n: int, block_s: float, sr: int, rng: np.random.Generator
) -> list[tuple[np.ndarray, list[tuple[float, float, str]], list[Row]]]:
    """``n`` joined recordings: (audio, true blocks (start_s, end_s, emotion), clips used)."""
    from mlcore.data.audio import load_audio

    by_speaker: dict[str, dict[str, list[Row]]] = {}
    for r in rows:
        by_speaker.setdefault(r.speaker, {}).setdefault(r.emotion, []).append(r)
    speakers = sorted(s for s, e in by_speaker.items() if len(e) >= 4)
    out = []
    for i in range(n):
        speaker = speakers[i % len(speakers)]
        emotions = list(rng.choice(sorted(by_speaker[speaker]), size=4, replace=False))
        parts, blocks, used, t = [], [], [], 0.0
        for emotion in emotions:
            pool = by_speaker[speaker][emotion]
            start = t
            for k in rng.permutation(len(pool)):
                y = load_audio(pool[k].path, sr=sr)
                parts.append(y)
                used.append(pool[k])
                t += y.size / sr
                if t - start >= block_s:
                    break
            blocks.append((start, t, str(emotion)))
        out.append((np.concatenate(parts), blocks, used))
    return out


def _truth_at(blocks: list[tuple[float, float, str]], t: float) -> str:
    return next((e for a, b, e in blocks if a <= t < b), blocks[-1][2])


def mood_changes(
    bundle: Path,
    rows: list[Row],
    *,
    n: int = 20,
    block_s: float = 15.0,
    seed: int = 0,
    penalties: tuple[float, ...] = (0.0, 0.25, 1.0, 4.0),
) -> dict[str, Any]:
    """The figures described in the module docstring, for ``n`` recordings of ``rows``' speakers, for
    each switching penalty in ``penalties`` (0: each window's own top emotion, no smoothing)."""
    from mlcore.serving.predictor import Predictor
    from mlcore.serving.segments import segments, smooth_path

    predictor = Predictor(bundle)
    rng = np.random.default_rng(seed)
    judged = []
    clip_rows: dict[Path, Row] = {}
    for y, blocks, used in _recordings(rows, n=n, block_s=block_s, sr=predictor.sr, rng=rng):
        a = predictor.analyse(y)
        probs = np.array([[w.probabilities[e] for e in EMOTIONS] for w in a.timeline])
        weights = np.array([w.speech for w in a.timeline])
        bounds = [(w.start_s, w.end_s) for w in a.timeline]
        judged.append((a, probs, weights, bounds, blocks))
        clip_rows.update({r.path: r for r in used})
    by_penalty = {}
    for penalty in penalties:
        right = windows = 0
        errors: list[float] = []
        for a, probs, weights, bounds, blocks in judged:
            spans = segments(smooth_path(probs, weights, switch_penalty=penalty), probs, bounds, weights * 4.0)
            cut = [(s.start_s, s.end_s, s.emotion) for s in spans]
            for start, end in bounds:
                windows += 1
                right += _truth_at(blocks, (start + end) / 2) == _truth_at(cut, (start + end) / 2)
            cuts = [s.start_s for s in spans[1:]]
            errors += [min((abs(end - c) for c in cuts), default=a.duration_s) for _, end, _ in blocks[:-1]]
        by_penalty[str(penalty)] = {
            "window_accuracy": right / windows,
            "boundary_error_median_s": float(np.median(errors)),
            "boundary_error_mean_s": float(np.mean(errors)),
        }
    clips = list(clip_rows.values())
    right = sum(
        not isinstance(result, Exception) and result.emotion == r.emotion
        for r, result in zip(clips, predictor.predict_many([r.path for r in clips]), strict=True)
    )
    return {
        "recordings": n,
        "block_s": block_s,
        "windows": sum(len(j[3]) for j in judged),
        "clip_accuracy": right / len(clips),
        "by_switch_penalty": by_penalty,
        "speakers": sorted({r.speaker for r in clips}),
    }


def add_arguments_mood_changes(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", type=Path)
    p.add_argument(
        "--speakers",
        required=True,
        help="held-out speakers, e.g. 'ravdess:17-20,crema-d:1041-1050' (never in the bundle's training set)",
    )
    p.add_argument("--recordings", type=int, default=20)
    p.add_argument("--block-s", type=float, default=15.0)
    p.add_argument("--penalties", default="0,0.25,1,4", help="switching penalties to compare (0: no smoothing)")
    p.add_argument("--out", type=Path, help="write the figures as JSON here")


def run_mood_changes(args: argparse.Namespace) -> int:
    from mlcore.errors import DatasetError

    config = json.loads((args.bundle / "config.json").read_text())
    heard = {s for names in config.get("train_corpora", {}).values() for s in names}
    wanted = corpora.parse_speakers(args.speakers)
    if wanted & heard:
        raise DatasetError(f"{', '.join(sorted(wanted & heard))} trained this bundle: choose held-out speakers.")
    rows = []
    for corpus in sorted({s.split(":")[0] for s in wanted}):
        rows += [r for r in corpora.list_corpus(corpus, corpora.corpus_dir(corpus)) if r.speaker in wanted]
    penalties = tuple(float(x) for x in args.penalties.split(","))
    figures = mood_changes(args.bundle, rows, n=args.recordings, block_s=args.block_s, penalties=penalties)
    print(json.dumps(figures, indent=1))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1) + "\n")
    return 0

"""``python -m mlcore predict BUNDLE FILE... [--format csv|json]``: judge files with a bundle."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from mlcore.data.audio import DEFAULT_MAX_DURATION_S
from mlcore.errors import BundleError, MlcoreError
from mlcore.labels import EMOTIONS
from mlcore.serving.predictor import Prediction, Predictor

CSV_COLUMNS = ("file", "emotion", *EMOTIONS, "error", "uncertain")
# Files judged per model call by the CLI: bounds memory while keeping the model call batched.
CLI_CHUNK = 64


def add_arguments_predict(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="BUNDLE FILE", help="bundle directory, then audio files")
    parser.add_argument("--default", action="store_true", help="use the shipped bundle; every path is a file")
    parser.add_argument("--format", choices=("csv", "json"), default="csv")
    parser.add_argument("--output", type=Path, help="write here instead of standard output")
    parser.add_argument("--max-duration", type=float, default=DEFAULT_MAX_DURATION_S, help="seconds (default 600)")


def run_predict(args: argparse.Namespace) -> int:
    """Judge every file; exit 0 unless every one of them failed (then 1)."""
    paths = list(args.paths)
    if args.default:
        predictor = Predictor.default()
    else:
        if len(paths) < 2:
            raise BundleError("Give a bundle directory and at least one audio file (or --default FILE...).")
        predictor = Predictor(paths.pop(0))
    rows: list[tuple[str, Prediction | MlcoreError]] = []
    for i in range(0, len(paths), CLI_CHUNK):
        chunk = paths[i : i + CLI_CHUNK]
        rows += zip(chunk, predictor.predict_many(chunk, max_duration_s=args.max_duration), strict=True)
    out = open(args.output, "w", newline="") if args.output else sys.stdout
    try:
        (_write_csv if args.format == "csv" else _write_json)(rows, out)
    finally:
        if args.output:
            out.close()
    return 1 if all(isinstance(r, MlcoreError) for _, r in rows) else 0


def _write_csv(rows: list[tuple[str, Prediction | MlcoreError]], out: Any) -> None:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for path, r in rows:
        if isinstance(r, MlcoreError):
            writer.writerow([path, "", *([""] * len(EMOTIONS)), str(r), ""])
        else:
            probabilities = (f"{r.probabilities[e]:.4f}" for e in EMOTIONS)
            writer.writerow([path, r.emotion, *probabilities, "", "true" if r.uncertain else "false"])


def _write_json(rows: list[tuple[str, Prediction | MlcoreError]], out: Any) -> None:
    items = []
    for path, r in rows:
        if isinstance(r, MlcoreError):
            items.append(
                {
                    "file": path,
                    "emotion": None,
                    "probabilities": None,
                    "duration_s": None,
                    "timeline": None,
                    "uncertain": None,
                    "uncertain_reason": None,
                    "error": str(r),
                }
            )
        else:
            d = r.to_dict()
            items.append(
                {
                    "file": path,
                    "emotion": r.emotion,
                    "probabilities": d["probabilities"],
                    "duration_s": d["duration_s"],
                    "timeline": d["timeline"],
                    "uncertain": r.uncertain,
                    "uncertain_reason": r.uncertain_reason,
                    "error": None,
                }
            )
    json.dump(items, out, indent=2)
    out.write("\n")

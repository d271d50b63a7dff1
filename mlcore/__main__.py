"""Command line: ``python -m mlcore {download,cv-corpora,train-corpora,evaluate,predict,cv,train} ...``.

This module only dispatches.  Each verb lives beside its stage, as ``add_arguments_<verb>(parser)`` and
``run_<verb>(args) -> int`` in the module named in ``COMMANDS``; only the chosen verb's module is
imported (TensorFlow loads only when a model is built, trained or run by Keras).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

COMMANDS: dict[str, tuple[str, str]] = {
    "download": ("mlcore.data.download", "download RAVDESS (Zenodo) or CREMA-D (GitHub), resumable and verified"),
    "train": ("mlcore.training.ravdess", "train a model on actor-split data and write a bundle"),
    "cv": ("mlcore.training.ravdess", "k-fold cross-validation by actor"),
    "cv-corpora": (
        "mlcore.training.crosscorpus",
        "speaker-held-out CV over RAVDESS and CREMA-D, leave-one-corpus-out, calibration",
    ),
    "train-corpora": (
        "mlcore.training.crosscorpus",
        "train on every speaker of the corpora and write a calibrated bundle",
    ),
    "evaluate": ("mlcore.training.evaluate", "evaluate a bundle on held-out actors"),
    "mood-changes": (
        "mlcore.training.changes",
        "window and boundary accuracy on joined recordings of held-out speakers that change mood",
    ),
    "predict": ("mlcore.serving.cli", "predict emotions for audio files (CSV or JSON)"),
}


def _default_numba_cache() -> None:
    # librosa's numba kernels compile on first use; keep the compiled cache so later runs start fast.
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "serweb-numba"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    _default_numba_cache()
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m mlcore", description="serweb speech emotion engine")
    sub = parser.add_subparsers(dest="command", required=True)
    # Only the chosen command's module is imported, so `predict` never pays for training imports.
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            getattr(module, f"add_arguments_{name.replace('-', '_')}")(p)
            p.set_defaults(_run=getattr(module, f"run_{name.replace('-', '_')}"))
    args = parser.parse_args(argv)
    from mlcore.errors import MlcoreError

    try:
        return int(args._run(args) or 0)
    except MlcoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Run every ``bench/bench_*.py`` module's ``main()``, or only those named: ``python -m bench [name ...]``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    wanted = set(sys.argv[1:] if argv is None else argv)
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    status = 0
    for name in names:
        if wanted and name not in wanted and name.removeprefix("bench_") not in wanted:
            continue
        print(f"== {name} ==", flush=True)
        module = importlib.import_module(f"bench.{name}")
        # Benches that take argv get an empty list, so they do not read the runner's own arguments.
        takes_argv = bool(inspect.signature(module.main).parameters)
        status |= int((module.main([]) if takes_argv else module.main()) or 0)
    return status


if __name__ == "__main__":
    sys.exit(main())

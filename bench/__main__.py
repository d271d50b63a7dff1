"""Run every ``bench/bench_*.py`` module's ``main()``, or only those named: ``python -m bench [name ...]``.

Options after the names go to the one bench named: ``python -m bench platform --only-long --long-minutes 60``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    first_option = next((i for i, a in enumerate(args) if a.startswith("-")), len(args))
    wanted, options = set(args[:first_option]), args[first_option:]
    if options and len(wanted) != 1:
        print("bench: options go to one bench; name it first, e.g. `python -m bench platform --only-long`")
        return 2
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    status = 0
    for name in names:
        if wanted and name not in wanted and name.removeprefix("bench_") not in wanted:
            continue
        print(f"== {name} ==", flush=True)
        module = importlib.import_module(f"bench.{name}")
        # Benches that take argv get the options (or none), never the runner's own arguments.
        takes_argv = bool(inspect.signature(module.main).parameters)
        if options and not takes_argv:
            print(f"bench: {name} takes no options")
            return 2
        status |= int((module.main(options) if takes_argv else module.main()) or 0)
    return status


if __name__ == "__main__":
    sys.exit(main())

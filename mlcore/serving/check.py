"""Check a bundle end to end in a process of its own: ``python -m mlcore.serving.check BUNDLE``.

Loading a Keras bundle imports TensorFlow (hundreds of MB); a web process that validates an uploaded
bundle runs this module as a subprocess, with a timeout, so none of that stays in it.  Prints one JSON
line, ``{"ok": true}`` or ``{"ok": false, "error": "..."}``, and exits 0 either way.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mlcore.errors import MlcoreError
from mlcore.serving.smoke import smoke_test


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mlcore.serving.check BUNDLE_DIR", file=sys.stderr)
        return 2
    try:
        smoke_test(Path(args[0]))
    except MlcoreError as e:
        print(json.dumps({"ok": False, "error": str(e)}))
    else:
        print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Model architectures, the NumPy runtime, the pretrained encoder, and the shipped bundles.

The folders ``default`` and ``fast`` beside these modules are bundles (data, not code): the platform
registers them by path on set-up.
"""

import os
from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent
# The bundle served when nothing else is named (whisper-mlp), and the fast alternative (logmel-tcn).
DEFAULT_BUNDLE = SHIPPED_DIR / "default"
FAST_BUNDLE = SHIPPED_DIR / "fast"


def quiet_blas() -> None:
    """Give NumPy's BLAS one thread in this process (``$SERWEB_BLAS_THREADS`` to change it).  Serving's
    NumPy work is small (the log-mel's filterbank, the head), and an idle BLAS thread spins for a while
    after each call: beside ONNX Runtime it took a second core for nothing (CPU per 4 s clip 59 ms against
    30 ms wall), so two worker processes on two cores did no more than one (``python -m bench cores``)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(max(1, int(os.environ.get("SERWEB_BLAS_THREADS") or 1)), user_api="blas")

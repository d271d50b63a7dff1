"""Model architectures, the NumPy runtime, the pretrained encoder, and the shipped bundles.

The folders ``default`` and ``fast`` beside these modules are bundles (data, not code): the platform
registers them by path on set-up.
"""

from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent
# The bundle served when nothing else is named (whisper-mlp), and the fast alternative (logmel-tcn).
DEFAULT_BUNDLE = SHIPPED_DIR / "default"
FAST_BUNDLE = SHIPPED_DIR / "fast"

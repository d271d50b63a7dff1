"""mlcore: speech emotion recognition engine (plain Python; never imports Django).

Heavy dependencies (librosa, TensorFlow) are imported inside the modules that need them,
so ``import mlcore`` is cheap.
"""

from mlcore.labels import EMOTIONS

__all__ = ["EMOTIONS"]

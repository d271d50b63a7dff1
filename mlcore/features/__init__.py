"""Features: extractors by name (NumPy log-mel, the original apps' librosa ones, pooled encoder layers),
speech detection and the standardiser."""

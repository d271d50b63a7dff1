"""Data: decoding audio, the corpora on disk and their downloads, augmentation."""

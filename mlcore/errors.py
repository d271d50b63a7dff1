"""One exception root for mlcore, with subclasses whose messages a person can act on."""

from __future__ import annotations


class MlcoreError(Exception):
    """Root of every error mlcore raises on purpose."""


class AudioError(MlcoreError):
    """The recording cannot be analysed; the message says why and what to do."""


class UnreadableAudioError(AudioError):
    """The file is not audio, or is damaged/truncated beyond decoding."""


class EmptyAudioError(AudioError):
    """The file decodes but holds no samples."""


class TooShortError(AudioError):
    """Shorter than the minimum duration the model can judge."""


class TooLongError(AudioError):
    """Longer than the configured maximum duration."""


class SilentAudioError(AudioError):
    """The recording holds no audible signal."""


class FeatureError(MlcoreError):
    """Unknown feature extractor or bad extractor parameters."""


class BundleError(MlcoreError):
    """A model bundle is missing files, was tampered with, or cannot be loaded."""


class DatasetError(MlcoreError):
    """A dataset folder is missing, empty or has unexpected file names."""


class DownloadError(MlcoreError):
    """A dataset download failed or the archive does not verify."""


class EncoderError(BundleError):
    """The pretrained speech encoder a bundle needs is missing, corrupt or unknown."""


class NoSpeechError(AudioError):
    """The recording holds too little speech to judge an emotion."""

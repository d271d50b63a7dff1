"""The data layer: every model of the app, importable from ``predictions.models``.

Each module holds one group (``jobs``: model versions, jobs, files, predictions, the queue heartbeat;
``api``: tokens and webhooks; ``usage``: the daily allowance's ledger; ``storage``: recordings owed a removal; ``account``:
per-user settings; ``live``: live takes; ``chunks``: long files' survey and parts).
The data layer imports nothing else of the app: a finished job is announced by ``predictions.signals``.
"""

from predictions.models.account import AccountSettings
from predictions.models.api import ApiToken, JobCallback, WebhookAttempt, WebhookSettings
from predictions.models.chunks import FileChunk, SplitFile
from predictions.models.jobs import (
    EMOTION_CHOICES,
    PROBABILITY_FIELDS,
    AudioFile,
    Job,
    ModelVersion,
    Prediction,
    QueueHeartbeat,
)
from predictions.models.live import LiveChunk, LiveTake
from predictions.models.storage import PendingRemoval
from predictions.models.usage import AudioCharge

__all__ = [
    "EMOTION_CHOICES",
    "PROBABILITY_FIELDS",
    "AccountSettings",
    "ApiToken",
    "AudioCharge",
    "AudioFile",
    "FileChunk",
    "Job",
    "JobCallback",
    "LiveChunk",
    "LiveTake",
    "ModelVersion",
    "PendingRemoval",
    "Prediction",
    "QueueHeartbeat",
    "SplitFile",
    "WebhookAttempt",
    "WebhookSettings",
]

"""JSON shapes that belong to the API alone: a job's detail with its webhook attempts, the upload's
documented body, tokens. The result shapes (job, file, prediction, model) live with the read model in
``predictions.reading.serializers`` and are re-exported here for the API views."""

from __future__ import annotations

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from predictions.models.api import ApiToken, JobCallback, WebhookAttempt
from predictions.reading import readmodel
from predictions.reading.serializers import (
    FileSerializer,
    JobSerializer,
    JobWithFilesSerializer,
    ModelVersionSerializer,
    PredictionDetailSerializer,
    PredictionSerializer,
)

__all__ = [
    "FileSerializer",
    "JobCreateSerializer",
    "JobDetailSerializer",
    "JobSerializer",
    "ModelVersionSerializer",
    "PredictionDetailSerializer",
    "PredictionSerializer",
    "TokenCreateSerializer",
    "TokenCreatedSerializer",
    "TokenSerializer",
]

# DRF refuses NUL characters in any text; saying so as a pattern puts the rule in the schema too.
NO_NUL = RegexValidator(r"^[^\x00]*$", "Text may not contain NUL characters.")


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ("attempted_at", "status_code", "error")


class WebhookSerializer(serializers.Serializer):
    url = serializers.URLField()
    state = serializers.ChoiceField(choices=["pending", "delivered", "failed"])
    attempts = WebhookAttemptSerializer(many=True)


class JobDetailSerializer(JobWithFilesSerializer):
    webhook = serializers.SerializerMethodField()

    @extend_schema_field(WebhookSerializer(allow_null=True))
    def get_webhook(self, job: readmodel.JobResult) -> dict | None:
        callback = JobCallback.objects.filter(job_id=job.id).first()
        if callback is None:
            return None
        return {
            "url": callback.url,
            "state": callback.state,
            "attempts": WebhookAttemptSerializer(callback.attempts.all(), many=True).data,
        }


class JobCreateSerializer(serializers.Serializer):
    """The multipart body of POST /api/v1/jobs (documentation; the upload form validates it)."""

    files = serializers.ListField(
        child=serializers.FileField(),
        min_length=1,
        help_text="Recordings (WAV, FLAC, OGG, MP3) or a .zip of them; repeat the field.",
    )
    callback_url = serializers.URLField(
        required=False, max_length=500, help_text="POSTed the job's JSON when it finishes (public http/https only)."
    )


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ("id", "name", "prefix", "created_at", "last_used_at")


class TokenCreateSerializer(serializers.Serializer):
    """Username and password are needed only without a token (a script bootstrapping itself)."""

    name = serializers.CharField(max_length=100, validators=[NO_NUL])
    username = serializers.CharField(required=False, max_length=150, validators=[NO_NUL])
    password = serializers.CharField(
        required=False, max_length=4096, style={"input_type": "password"}, trim_whitespace=False, validators=[NO_NUL]
    )


class TokenCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    token = serializers.CharField(help_text="Shown this once; only its hash is kept.")

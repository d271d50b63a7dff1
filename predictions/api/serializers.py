"""JSON shapes of the API: jobs and their files, predictions, model versions, tokens, webhook attempts."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mlcore.labels import EMOTIONS
from predictions.models import EMOTION_CHOICES, AudioFile, Job, ModelVersion, Prediction
from predictions.models_api import ApiToken, WebhookAttempt
from predictions.verdicts import model_note

# DRF refuses NUL characters in any text; saying so as a pattern puts the rule in the schema too.
NO_NUL = RegexValidator(r"^[^\x00]*$", "Text may not contain NUL characters.")

# Headline figures copied from a bundle's metrics.json, when it has them.
HEADLINE_METRICS = ("accuracy", "macro_f1", "headline_corpus")


class ProbabilitiesSerializer(serializers.Serializer):
    """One probability per emotion, in the model's label order."""

    def get_fields(self):
        return {e: serializers.FloatField() for e in EMOTIONS}


def _probabilities(prediction: Prediction) -> dict[str, float]:
    return prediction.probabilities


class FileSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="original_name")
    reason = serializers.SerializerMethodField(help_text="Why the file failed, in words; null unless failed.")
    prediction_id = serializers.SerializerMethodField()
    top_emotion = serializers.SerializerMethodField()
    confidence = serializers.SerializerMethodField()
    probabilities = serializers.SerializerMethodField()
    uncertain = serializers.SerializerMethodField(help_text="The model's own doubt; null for models without one.")
    uncertain_reason = serializers.SerializerMethodField()

    class Meta:
        model = AudioFile
        fields = (
            "id", "name", "status", "reason", "prediction_id", "top_emotion", "confidence", "probabilities",
            "uncertain", "uncertain_reason",
        )  # fmt: skip

    def _prediction(self, f: AudioFile) -> Prediction | None:
        return getattr(f, "prediction", None) if f.status == AudioFile.Status.DONE else None

    def get_reason(self, f: AudioFile) -> str | None:
        return f.error or None

    def get_prediction_id(self, f: AudioFile) -> int | None:
        p = self._prediction(f)
        return p.pk if p else None

    @extend_schema_field(serializers.ChoiceField(choices=EMOTION_CHOICES, allow_null=True))
    def get_top_emotion(self, f: AudioFile) -> str | None:
        p = self._prediction(f)
        return p.top_emotion if p else None

    def get_confidence(self, f: AudioFile) -> float | None:
        p = self._prediction(f)
        return p.confidence if p else None

    @extend_schema_field(ProbabilitiesSerializer(allow_null=True))
    def get_probabilities(self, f: AudioFile) -> dict[str, float] | None:
        p = self._prediction(f)
        return _probabilities(p) if p else None

    def get_uncertain(self, f: AudioFile) -> bool | None:
        p = self._prediction(f)
        return p.uncertain if p else None

    def get_uncertain_reason(self, f: AudioFile) -> str | None:
        p = self._prediction(f)
        return p.uncertain_reason if p else None


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ("attempted_at", "status_code", "error")


class WebhookSerializer(serializers.Serializer):
    url = serializers.URLField()
    state = serializers.ChoiceField(choices=["pending", "delivered", "failed"])
    attempts = WebhookAttemptSerializer(many=True)


class JobSerializer(serializers.ModelSerializer):
    """A job with a summary; the detail adds each file and the webhook's attempts."""

    url = serializers.SerializerMethodField()
    total = serializers.SerializerMethodField()
    done = serializers.SerializerMethodField()
    failed = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ("id", "url", "status", "created_at", "finished_at", "total", "done", "failed")

    def _counts(self, job: Job) -> tuple[int, int, int]:
        """(total, done, failed): annotated by the list's query, or counted for a single job."""
        if not hasattr(job, "n_total"):
            c = job.counts()
            job.n_total, job.n_done, job.n_failed = sum(c.values()), c["done"], c["failed"]
        return job.n_total, job.n_done, job.n_failed

    def get_url(self, job: Job) -> str:
        return reverse("api:job", args=[job.pk])

    def get_total(self, job: Job) -> int:
        return self._counts(job)[0]

    def get_done(self, job: Job) -> int:
        return self._counts(job)[1]

    def get_failed(self, job: Job) -> int:
        return self._counts(job)[2]


class JobDetailSerializer(JobSerializer):
    files = serializers.SerializerMethodField()
    webhook = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = (*JobSerializer.Meta.fields, "files", "webhook")

    @extend_schema_field(FileSerializer(many=True))
    def get_files(self, job: Job) -> list[dict]:
        return FileSerializer(job.files.select_related("prediction").order_by("id"), many=True).data

    @extend_schema_field(WebhookSerializer(allow_null=True))
    def get_webhook(self, job: Job) -> dict | None:
        callback = getattr(job, "callback", None)
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


class PredictionSerializer(serializers.ModelSerializer):
    file_name = serializers.CharField(source="file.original_name")
    job_id = serializers.IntegerField(source="file.job_id")
    model_version = serializers.CharField(source="model_version.name")
    probabilities = serializers.SerializerMethodField()

    class Meta:
        model = Prediction
        fields = (
            "id", "job_id", "file_name", "uploaded_at", "model_version", "top_emotion", "confidence", "duration_s",
            "speech_s", "probabilities", "uncertain", "uncertain_reason",
        )  # fmt: skip

    @extend_schema_field(ProbabilitiesSerializer)
    def get_probabilities(self, p: Prediction) -> dict[str, float]:
        return _probabilities(p)


class TimelineWindowSerializer(serializers.Serializer):
    start_s = serializers.FloatField()
    end_s = serializers.FloatField()
    probabilities = ProbabilitiesSerializer()


class SegmentSerializer(serializers.Serializer):
    start_s = serializers.FloatField()
    end_s = serializers.FloatField()
    emotion = serializers.ChoiceField(choices=list(EMOTIONS))
    confidence = serializers.FloatField(help_text="Mean probability of the emotion over the span's windows.")
    speech_s = serializers.FloatField(help_text="Seconds of speech in the span.")


class PredictionDetailSerializer(PredictionSerializer):
    timeline = TimelineWindowSerializer(many=True)
    segments = SegmentSerializer(
        many=True,
        help_text="The timeline smoothed into spans of one emotion; top_emotion is the one held longest.",
    )
    share = serializers.FloatField(
        allow_null=True, help_text="The share of the speech that top_emotion holds (1.0 for one mood)."
    )
    audio_removed_at = serializers.DateTimeField(
        source="file.audio_removed_at",
        allow_null=True,
        help_text="When retention removed the recording; null while kept.",
    )

    class Meta(PredictionSerializer.Meta):
        fields = (*PredictionSerializer.Meta.fields, "timeline", "segments", "share", "audio_removed_at")


class ModelVersionSerializer(serializers.ModelSerializer):
    labels = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField(help_text="Headline figures from the bundle's evaluation.")
    summary = serializers.SerializerMethodField(
        help_text="In plain words: how often the model is right on new speakers of its corpora and elsewhere."
    )

    class Meta:
        model = ModelVersion
        fields = ("id", "name", "architecture", "created_at", "labels", "metrics", "summary")

    def get_summary(self, version: ModelVersion) -> str:
        return model_note(version)

    def get_labels(self, version: ModelVersion) -> list[str]:
        return list(EMOTIONS)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_metrics(self, version: ModelVersion) -> dict:
        metrics = version.metrics or {}
        out = {k: metrics[k] for k in HEADLINE_METRICS if k in metrics}
        calibration = metrics.get("calibration")
        if isinstance(calibration, dict) and "ece_after" in calibration:
            out["ece"] = calibration["ece_after"]
            if "ece_away_after" in calibration:
                out["ece_leave_one_corpus_out"] = calibration["ece_away_after"]
        # Away from home: a corpus the model never heard (both directions) and a language it never heard.
        loco = metrics.get("leave_one_corpus_out")
        if isinstance(loco, dict):
            out["leave_one_corpus_out"] = {k: v.get("accuracy") for k, v in loco.items() if isinstance(v, dict)}
        language = metrics.get("unseen_language")
        if isinstance(language, dict):
            out["unseen_language"] = {
                k: language.get(k) for k in ("corpus", "accuracy", "accuracy_all_eight", "ece_all_eight")
            }
        return out


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

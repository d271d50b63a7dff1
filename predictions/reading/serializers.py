"""The one JSON shape of a result: a job (with or without its files), a file, a prediction with its
timeline, a model's figures, each serialised from the read model (``predictions.reading.readmodel``).

The API answers with these, and the webhook body is the same job JSON, so a client parses one shape
whichever way the result reached it."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mlcore.labels import EMOTIONS
from predictions.models import EMOTION_CHOICES, AudioFile, Job
from predictions.reading import readmodel


def absolute(request, path: str) -> str:
    """``https://host/api/v1/jobs/7``: from the request's host in answers to a request, from ``SITE_URL``
    where there is none (the webhook body is built by a worker, which knows no request)."""
    if request is not None:
        return request.build_absolute_uri(path)
    return settings.SITE_URL.rstrip("/") + path


class ProbabilitiesSerializer(serializers.Serializer):
    """One probability per emotion, in the model's label order."""

    def get_fields(self):
        return {e: serializers.FloatField() for e in EMOTIONS}


@extend_schema_field(ProbabilitiesSerializer)
class ProbabilitiesField(serializers.Field):
    """The read model's ``{emotion: probability}`` as it is (documented as ProbabilitiesSerializer)."""

    def to_representation(self, value: dict[str, float]) -> dict[str, float]:
        return value


class FileSerializer(serializers.Serializer):
    """A ``readmodel.FileResult``: the prediction's fields are null until the file is done."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=AudioFile.Status.choices)
    reason = serializers.CharField(allow_null=True, help_text="Why the file failed, in words; null unless failed.")
    prediction_id = serializers.IntegerField(allow_null=True)
    top_emotion = serializers.ChoiceField(choices=EMOTION_CHOICES, allow_null=True)
    confidence = serializers.FloatField(allow_null=True)
    probabilities = ProbabilitiesField(allow_null=True)
    uncertain = serializers.BooleanField(allow_null=True, help_text="The model's own doubt; null until done.")
    uncertain_reason = serializers.CharField(allow_null=True, allow_blank=True)


class JobSerializer(serializers.Serializer):
    """A ``readmodel.JobResult`` with a summary; the detail adds each file and the webhook's attempts."""

    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=Job.Status.choices)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    finished = serializers.BooleanField(help_text="Every file is done or failed.")
    all_failed = serializers.BooleanField(help_text="Finished, and no file could be analysed.")

    def get_url(self, job: readmodel.JobResult) -> str:
        return absolute(self.context.get("request"), reverse("api:job", args=[job.id]))


class JobWithFilesSerializer(JobSerializer):
    """A job and each of its files: the webhook body, and the API's job detail without the webhook."""

    files = FileSerializer(many=True)


class PredictionSerializer(serializers.Serializer):
    """A ``readmodel.PredictionResult``."""

    id = serializers.IntegerField()
    job_id = serializers.IntegerField()
    file_name = serializers.CharField()
    uploaded_at = serializers.DateTimeField()
    model_version = serializers.CharField()
    top_emotion = serializers.ChoiceField(choices=EMOTION_CHOICES)
    confidence = serializers.FloatField()
    duration_s = serializers.FloatField()
    speech_s = serializers.FloatField(allow_null=True)
    probabilities = ProbabilitiesField()
    uncertain = serializers.BooleanField()
    uncertain_reason = serializers.CharField(allow_blank=True)


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
        allow_null=True, help_text="When retention removed the recording; null while kept."
    )


class ModelVersionSerializer(serializers.Serializer):
    """A ``readmodel.ModelFigures``."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    architecture = serializers.CharField()
    created_at = serializers.DateTimeField()
    labels = serializers.ListField(child=serializers.CharField())
    metrics = serializers.SerializerMethodField(help_text="Headline figures from the bundle's evaluation.")
    summary = serializers.CharField(
        source="note",
        help_text="In plain words: how often the model is right on new speakers of its corpora and elsewhere.",
    )

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_metrics(self, figures: readmodel.ModelFigures) -> dict:
        return figures.headline

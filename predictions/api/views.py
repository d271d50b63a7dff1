"""The REST API's views: short APIViews on the same services as the pages (upload, history, deletion)."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.db import transaction
from django.db.models import Count, Q
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from mlcore.labels import EMOTIONS
from predictions.api import serializers as s
from predictions.api.errors import CONTENT_TYPE, ProblemSerializer
from predictions.api.pagination import Pagination
from predictions.api.renderers import CsvRenderer
from predictions.api.throttling import UploadThrottle
from predictions.lifecycle import deletion, webhooks
from predictions.models import AudioFile, Job, ModelVersion
from predictions.models.api import ApiToken, JobCallback
from predictions.pipeline import jobs
from predictions.reading import history, readmodel
from predictions.reading.serializers import absolute
from predictions.web import access
from predictions.web.forms import HistoryFilterForm, UploadForm
from predictions.web.ids import parse_id


def _errors(*codes: int) -> dict:
    return {(code, CONTENT_TYPE): OpenApiResponse(ProblemSerializer) for code in codes}


def _form_errors(form) -> dict[str, list[str]]:
    """The web form's own messages, field by field (the API and the pages say the same thing)."""
    return {field: list(messages) for field, messages in form.errors.items()}


COMMON = _errors(401, 429)


# --- Tokens ---------------------------------------------------------------------------------------------
class TokenList(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: s.TokenSerializer(many=True), **COMMON}, summary="Your tokens (never the secret part)"
    )
    def get(self, request):
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        return Response(s.TokenSerializer(ApiToken.objects.filter(user=request.user), many=True).data)

    @extend_schema(
        request=s.TokenCreateSerializer,
        responses={201: s.TokenCreatedSerializer, **_errors(400, 401, 429)},
        summary="Create a token (with a token, or with username and password to bootstrap a script)",
    )
    def post(self, request):
        body = s.TokenCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = request.user if request.user and request.user.is_authenticated else None
        if user is None:
            username, password = body.validated_data.get("username"), body.validated_data.get("password")
            if not username or not password:
                raise exceptions.NotAuthenticated(
                    "Send username and password with the name, or authenticate with a token."
                )
            user = authenticate(request._request, username=username, password=password)
            if user is None:
                raise exceptions.AuthenticationFailed("Wrong username or password.")
        token, raw = ApiToken.issue(user, body.validated_data["name"])
        return Response({"id": token.pk, "name": token.name, "token": raw}, status=status.HTTP_201_CREATED)


class TokenDetail(APIView):
    @extend_schema(responses={204: None, **_errors(401, 404, 429)}, summary="Revoke a token")
    def delete(self, request, pk: int):
        access.token_for(request.user, pk).revoke()
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Jobs -----------------------------------------------------------------------------------------------
class JobList(generics.ListAPIView):
    serializer_class = s.JobSerializer
    pagination_class = Pagination
    throttle_classes = [*APIView.throttle_classes, UploadThrottle]

    def get_queryset(self):
        # Counts in the list's one query (JobSerializer reads them), not one query per job.
        counts = {f"n_{state}": Count("files", filter=Q(files__status=state)) for state in AudioFile.Status.values}
        return Job.objects.filter(user=self.request.user).annotate(**counts).order_by("-created_at", "-id")

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        records = [
            readmodel.job_result(job, counts={state: getattr(job, f"n_{state}") for state in AudioFile.Status.values})
            for job in page
        ]
        return self.get_paginated_response(self.get_serializer(records, many=True).data)

    @extend_schema(operation_id="jobs_list", responses={200: s.JobSerializer(many=True), **_errors(401, 404, 429)})
    def get(self, request, *args, **kwargs):
        """Your jobs, newest first."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": s.JobCreateSerializer},
        responses={202: s.JobDetailSerializer, **_errors(400, 401, 429)},
        summary="Upload recordings as one job",
    )
    def post(self, request):
        form = UploadForm(request.data, request.FILES)
        if not form.is_valid():
            raise exceptions.ValidationError(_form_errors(form))
        url = _callback_url(request.data.get("callback_url", ""))
        # One transaction: the callback row exists before any file can finish (eager tasks run on commit).
        with transaction.atomic():
            files = form.cleaned_data["files"]
            job = jobs.create_job(request.user, files, name=history.job_name([f.name for f in files]))
            if url:
                JobCallback.objects.create(job=job, url=url)
        job.refresh_from_db()
        response = Response(_job_json(job, request), status=status.HTTP_202_ACCEPTED)
        response["Location"] = absolute(request, reverse("api:job", args=[job.pk]))
        return response


def _job_json(job: Job, request) -> dict:
    return s.JobDetailSerializer(readmodel.job_result(job, with_files=True), context={"request": request}).data


def _callback_url(value: str) -> str:
    """The job's callback URL, checked as a URL (length included) and as an address serweb may call."""
    if not value:
        return ""
    try:
        url = s.JobCreateSerializer().fields["callback_url"].run_validation(value)
        webhooks.check_callback_url(url)
    except exceptions.ValidationError as e:
        raise exceptions.ValidationError({"callback_url": e.detail}) from e
    except webhooks.CallbackRefused as e:
        raise exceptions.ValidationError({"callback_url": [str(e)]}) from e
    return url


class JobDetail(APIView):
    @extend_schema(
        responses={200: s.JobDetailSerializer, **_errors(401, 404, 429)}, summary="A job, each file's state and result"
    )
    def get(self, request, pk: int):
        return Response(_job_json(access.job_for(request.user, pk), request))

    @extend_schema(responses={204: None, **_errors(401, 404, 429)}, summary="Delete a job: its recordings and results")
    def delete(self, request, pk: int):
        deletion.delete_job(access.job_for(request.user, pk), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Predictions ----------------------------------------------------------------------------------------
FILTERS = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="Uploaded on or after this day"),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Uploaded on or before this day"),
    OpenApiParameter("emotion", str, enum=list(EMOTIONS), description="Top emotion"),
    OpenApiParameter("model", {"type": "integer", "minimum": 1}, description="Model version id"),
]


def _history_filter(request) -> history.HistoryFilter:
    form = HistoryFilterForm(request.query_params)
    if not form.is_valid():
        model = request.query_params.get("model", "")
        if set(form.errors) == {"model"} and parse_id(model):
            raise exceptions.NotFound(
                f"There is no model version {model}; GET /api/v1/models/active names the current one."
            )
        raise exceptions.ValidationError(_form_errors(form))
    return history.HistoryFilter.from_form(form)


class PredictionList(generics.ListAPIView):
    serializer_class = s.PredictionSerializer
    pagination_class = Pagination

    def get_queryset(self):
        predictions = _history_filter(self.request).predictions(self.request.user)
        # The timeline and waveform envelope are the bulk of a row and only the detail shows them.
        predictions = predictions.select_related("file", "model_version").defer("timeline", "envelope", "segments")
        return predictions.order_by("-uploaded_at", "-id")

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        records = [readmodel.prediction_result(p) for p in page]
        return self.get_paginated_response(self.get_serializer(records, many=True).data)

    @extend_schema(
        operation_id="predictions_list",
        parameters=FILTERS,
        responses={200: s.PredictionSerializer(many=True), **_errors(400, 401, 404, 429)},
        summary="Your predictions, with the history page's filters",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class PredictionDetail(APIView):
    @extend_schema(
        responses={200: s.PredictionDetailSerializer, **_errors(401, 404, 429)},
        summary="A prediction with its timeline",
    )
    def get(self, request, pk: int):
        prediction = access.prediction_for(request.user, pk)
        return Response(s.PredictionDetailSerializer(readmodel.prediction_detail(prediction)).data)


class PredictionCsv(APIView):
    renderer_classes = [CsvRenderer, JSONRenderer]

    @extend_schema(
        parameters=FILTERS,
        responses={(200, "text/csv"): OpenApiTypes.STR, **_errors(400, 401, 404, 429)},
        summary="The history CSV (same columns and filters), streamed",
    )
    def get(self, request):
        flt = _history_filter(request)
        response = StreamingHttpResponse(
            history.csv_stream(flt.files(request.user)), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="serweb-history-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response


# --- Models ---------------------------------------------------------------------------------------------
class ActiveModel(APIView):
    @extend_schema(
        responses={200: s.ModelVersionSerializer, **_errors(401, 404, 429)}, summary="The model new jobs use"
    )
    def get(self, request):
        version = ModelVersion.active()
        if version is None:
            raise exceptions.NotFound("No model is active; an administrator must activate one.")
        return Response(s.ModelVersionSerializer(readmodel.model_figures(version)).data)

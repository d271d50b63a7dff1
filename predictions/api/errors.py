"""Errors as RFC 9457 problem details (``application/problem+json``), for DRF views and unknown API URLs."""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, serializers
from rest_framework.views import exception_handler

from predictions.pipeline.uploads import out_of_space
from predictions.web.request_errors import CONTENT_TYPE, database_unavailable, problem, reason, unavailable_response

logger = logging.getLogger(__name__)


class ProblemSerializer(serializers.Serializer):
    """Schema of every error answer."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


def _flatten(data, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation errors as ``{"field": ["message", ...]}`` (nested fields dotted)."""
    out: dict[str, list[str]] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            name = "" if key == "non_field_errors" else str(key)
            for k, v in _flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(data, list):
        for item in data:
            for k, v in _flatten(item, prefix).items():
                out.setdefault(k, []).extend(v)
    else:
        out.setdefault(prefix or "request", []).append(str(data))
    return out


def problem_exception_handler(exc, context):
    """DRF's handler (which sets WWW-Authenticate, Retry-After …), its body rewritten as a problem."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found, or not yours.")
    elif isinstance(exc, TooManyFilesSent | TooManyFieldsSent | RequestDataTooBig):
        # Raised while DRF parses the body: the pages' reason (how many files one request may hold).
        exc = exceptions.ParseError(reason(exc))
    elif isinstance(exc, DjangoValidationError):
        # Raised by the shared services (upload rules, quotas): the person gets the service's own words.
        exc = exceptions.ValidationError({"request": exc.messages})
    response = exception_handler(exc, context)
    if response is None and (database_unavailable(exc) or out_of_space(exc)):
        logger.error("API %s: %s", context.get("view").__class__.__name__, exc)
        return unavailable_response(context["request"], exc)
    if response is None:
        # Anything unexpected: logged with its traceback, answered as a problem rather than an HTML page.
        logger.exception("API error in %s", context.get("view").__class__.__name__, exc_info=exc)
        return JsonResponse(
            problem(500, "The server failed to handle this request; it has been logged. Try again later."),
            status=500,
            content_type=CONTENT_TYPE,
        )
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        first = next(iter(errors.items()))
        detail = f"{first[0]}: {first[1][0]}" if first[0] != "request" else first[1][0]
        response.data = problem(response.status_code, detail, errors=errors)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        response.data = problem(response.status_code, str(detail))
    response.content_type = CONTENT_TYPE
    return response


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: a problem for /api/ URLs, the site's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            problem(404, f"There is no API endpoint at {request.path}; see /api/docs/."),
            status=404,
            content_type=CONTENT_TYPE,
        )
    return defaults.page_not_found(request, exception)

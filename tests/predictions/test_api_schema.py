"""Schemathesis: property-based requests generated from the OpenAPI schema, sent to the live API with a
real token; no answer may be a 500, and every answer must match the schema (status, type, body).

One test per operation, driven by Hypothesis directly: schemathesis's own pytest loader
(``from_fixture``) does not run on pytest 9."""

from __future__ import annotations

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from predictions.models.api import ApiToken

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
EXAMPLES = 40


def operations() -> list[tuple[str, str]]:
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return [(method.upper(), path) for path, item in paths.items() for method in item]


@pytest.fixture
def live_schema(live_server, settings, model_version):
    # Hundreds of requests a minute here; the limits themselves are tested in test_api.py.
    settings.API_RATE_LIMITS = {"user": "100000/minute", "uploads": "100000/minute", "anon": "100000/minute"}
    return schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")


@pytest.fixture
def alices_prediction(alice, make_prediction, model_version):
    prediction = make_prediction(alice, model=model_version, uncertain_reason="little speech")
    prediction.timeline = [{"start_s": 0.0, "end_s": 4.0, "probabilities": prediction.probabilities}]
    prediction.save(update_fields=["timeline"])
    return prediction


@pytest.fixture
def token(alice) -> str:
    return ApiToken.issue(alice, "schemathesis")[1]


@pytest.mark.parametrize("method,path", operations())
def test_the_live_api_matches_its_schema_and_never_fails(live_schema, token, alices_prediction, method, path):
    operation = live_schema[path][method]
    # Generated ids almost never exist; each GET by id is also sent for a real row, so its 200 is checked.
    real_ids = {"/api/v1/jobs/{id}": alices_prediction.file.job_id, "/api/v1/predictions/{id}": alices_prediction.pk}
    headers = {"Authorization": f"Bearer {token}"}
    # "Schema-valid data must be accepted" is left out: some rules are beyond what a schema can say
    # (end on or after start, a callback host that resolves to a public address, a password that is
    # right), and those are answered 400/401 problems by design.  Every other default check runs.
    excluded = [positive_data_acceptance]
    seen: list[int] = []

    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case) -> None:
        seen.append(case.call_and_validate(headers=headers, excluded_checks=excluded).status_code)
        if method == "GET" and path in real_ids:
            case.path_parameters = {**case.path_parameters, "id": real_ids[path]}
            seen.append(case.call_and_validate(headers=headers, excluded_checks=excluded).status_code)

    check()
    assert seen and max(seen) < 500

"""History: newest first, paginated, filtered; distribution and series from the database; streamed CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext

from mlcore.labels import EMOTIONS
from predictions.models import AudioFile, Job
from predictions.pipeline import processing, registry
from predictions.reading.history import CSV_COLUMNS

pytestmark = pytest.mark.django_db


def history_data(html: str) -> dict:
    marker = '<script id="history-data" type="application/json">'
    start = html.index(marker) + len(marker)
    return json.loads(html[start : html.index("</script>", start)])


def day(n: int) -> datetime:
    return datetime(2026, 1, 1, 12, tzinfo=UTC) + timedelta(days=n)


@pytest.fixture
def second_model(db, tmp_path):
    from bundle_factory import build_bundle

    version, _ = registry.register_bundle(build_bundle(tmp_path / "second", name="second", seed=2))
    return version


@pytest.fixture
def alices_history(alice, make_prediction, model_version, second_model):
    make_prediction(alice, emotion="happy", uploaded_at=day(0), model=model_version, name="d0-happy.wav")
    make_prediction(alice, emotion="happy", uploaded_at=day(1), model=model_version, name="d1-happy.wav")
    make_prediction(alice, emotion="sad", uploaded_at=day(1), model=second_model, name="d1-sad.wav")
    make_prediction(alice, emotion="angry", uploaded_at=day(3), model=model_version, name="d3-angry.wav")


def test_history_lists_newest_first_with_the_distribution_of_top_emotions(alice_client, alices_history):
    html = alice_client.get("/history/").content.decode()
    assert html.index("d3-angry.wav") < html.index("d1-happy.wav") < html.index("d0-happy.wav")
    data = history_data(html)
    assert data["distribution"] == {**dict.fromkeys(EMOTIONS, 0), "happy": 2, "sad": 1, "angry": 1}
    series = data["series"]
    assert series["bucket"] == "day"
    assert series["labels"] == ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]
    assert series["counts"]["happy"] == [1, 1, 0, 0] and series["counts"]["angry"] == [0, 0, 0, 1]
    for canvas in ("distribution-chart", "timeseries-chart"):
        assert f'<canvas id="{canvas}"' in html


def test_history_filters_by_date_emotion_and_model(alice_client, alices_history, second_model):
    data = history_data(alice_client.get("/history/?start=2026-01-02&end=2026-01-02").content.decode())
    assert (
        data["distribution"]["happy"] == 1 and data["distribution"]["sad"] == 1 and data["distribution"]["angry"] == 0
    )
    html = alice_client.get("/history/?emotion=happy").content.decode()
    assert "d0-happy.wav" in html and "d1-sad.wav" not in html
    html = alice_client.get(f"/history/?model={second_model.pk}").content.decode()
    assert "d1-sad.wav" in html and "d1-happy.wav" not in html
    assert history_data(html)["distribution"]["sad"] == 1


def test_the_export_link_carries_the_same_filters(alice_client, alices_history):
    html = alice_client.get("/history/?emotion=happy&start=2026-01-01").content.decode()
    assert '<a id="export-csv" href="/history.csv?emotion=happy&amp;start=2026-01-01">' in html


def test_the_series_switches_to_weeks_past_sixty_days(alice, alice_client, make_prediction, model_version):
    make_prediction(alice, emotion="calm", uploaded_at=day(0), model=model_version)
    make_prediction(alice, emotion="calm", uploaded_at=day(90), model=model_version)
    series = history_data(alice_client.get("/history/").content.decode())["series"]
    assert series["bucket"] == "week"
    assert sum(series["counts"]["calm"]) == 2 and len(series["labels"]) == 14


def test_history_aggregates_in_a_fixed_number_of_queries_whatever_the_row_count(
    alice, alice_client, make_prediction, model_version
):
    for i in range(60):
        make_prediction(alice, emotion=EMOTIONS[i % 8], uploaded_at=day(i % 5), model=model_version)
    with CaptureQueriesContext(connection) as few:
        alice_client.get("/history/")
    for i in range(60):
        make_prediction(alice, emotion=EMOTIONS[i % 8], uploaded_at=day(i % 5), model=model_version)
    with CaptureQueriesContext(connection) as many:
        response = alice_client.get("/history/")
    assert len(many) == len(few)
    assert "Page 1 of 3" in response.content.decode()


def test_an_invalid_date_range_is_reported(alice_client, alices_history):
    html = alice_client.get("/history/?start=2026-02-01&end=2026-01-01").content.decode()
    assert "The end date is before the start date." in html


def test_the_csv_export_is_streamed_with_the_exact_columns(alice_client, alices_history):
    response = alice_client.get("/history.csv")
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv") and "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.getvalue().decode())))
    assert rows[0] == list(CSV_COLUMNS)
    assert ",".join(rows[0]) == (
        "uploaded_at,job,file,duration_s,model_version,status,reason,top_emotion,confidence,"
        "neutral,calm,happy,sad,angry,fearful,disgust,surprised,uncertain,uncertain_reason,file_id,prediction_id,"
        "speech_s,second_emotion"
    )
    assert [r[2] for r in rows[1:]] == ["d3-angry.wav", "d1-sad.wav", "d1-happy.wav", "d0-happy.wav"]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["top_emotion"] == "angry" and first["status"] == "done" and float(first["angry"]) == pytest.approx(0.7)
    assert first["uncertain"] == "false"
    # The runner-up by the one ranking rule (the other seven share 0.3 equally: the first of them in order).
    assert first["second_emotion"] == "neutral" and first["speech_s"] == ""
    assert sum(float(first[e]) for e in EMOTIONS) == pytest.approx(1.0, abs=1e-5)


def test_the_csv_export_applies_the_history_filters(alice_client, alices_history):
    rows = list(
        csv.reader(io.StringIO(alice_client.get("/history.csv?emotion=happy&end=2026-01-01").getvalue().decode()))
    )
    assert [r[2] for r in rows[1:]] == ["d0-happy.wav"]


def test_csv_cells_cannot_smuggle_spreadsheet_formulas(alice, alice_client, make_prediction, model_version):
    make_prediction(alice, name="=HYPERLINK(evil).wav", model=model_version)
    rows = list(csv.reader(io.StringIO(alice_client.get("/history.csv").getvalue().decode())))
    assert rows[1][2] == "'=HYPERLINK(evil).wav"


def test_the_csv_says_after_the_first_exports_columns_whether_the_model_was_uncertain_and_why(
    alice, alice_client, make_prediction, model_version
):
    make_prediction(alice, name="sure.wav", uploaded_at=day(0), model=model_version)
    make_prediction(
        alice,
        name="unsure.wav",
        uploaded_at=day(1),
        model=model_version,
        top_probability=0.38,
        uncertain_reason="top probability 38% is below 45%",
    )
    processing.fail_file(
        AudioFile.objects.create(job=Job.objects.create(user=alice), user=alice, original_name="bad.wav").pk,
        "No speech detected: only 0.0 s of this recording sounds like a voice.",
    )
    rows = list(csv.reader(io.StringIO(alice_client.get("/history.csv").getvalue().decode())))
    # After every column of the first export, so scripts reading those by position keep working.
    assert rows[0][17:] == ["uncertain", "uncertain_reason", "file_id", "prediction_id", "speech_s", "second_emotion"]
    uncertain = {r[2]: (r[17], r[18]) for r in rows[1:]}
    assert uncertain == {
        "unsure.wav": ("true", "top probability 38% is below 45%"),
        "sure.wav": ("false", ""),
        "bad.wav": ("", ""),
    }

"""Times in the viewer's zone: the browser's zone comes with the log-in, is stored on the account, and
every page shows times in it and names it; the CSV keeps ISO 8601 with its offset."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import PASSWORD
from django.test import Client

from predictions.models import AccountSettings, Job

pytestmark = pytest.mark.django_db

# 23:30 UTC on 5 January is 08:30 on 6 January in Tokyo: a different day, not only a different hour.
LATE = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)


def test_logging_in_from_tokyo_shows_times_in_tokyo_and_says_so(alice, make_prediction, model_version):
    prediction = make_prediction(alice, name="late-call.wav", uploaded_at=LATE, model=model_version)
    Job.objects.filter(pk=prediction.file.job_id).update(created_at=LATE)
    browser = Client()
    browser.post("/accounts/login/", {"username": "alice", "password": PASSWORD, "time_zone": "Asia/Tokyo"})
    assert AccountSettings.objects.get(user=alice).time_zone == "Asia/Tokyo"
    history = browser.get("/history/").content.decode()
    assert "2026-01-06 08:30 JST" in history and "2026-01-05 23:30" not in history
    assert "Times are shown in Asia/Tokyo" in history
    assert "2026-01-06 08:30 JST" in browser.get("/jobs/").content.decode()
    # The export stays unambiguous: ISO 8601 with the offset.
    csv = b"".join(browser.get("/history.csv").streaming_content).decode()
    assert "2026-01-05T23:30:00+00:00" in csv


def test_the_history_filter_and_charts_count_days_in_the_viewers_zone(alice, make_prediction, model_version):
    make_prediction(alice, name="late-call.wav", uploaded_at=LATE, model=model_version)
    browser = Client()
    browser.post("/accounts/login/", {"username": "alice", "password": PASSWORD, "time_zone": "Asia/Tokyo"})
    assert "late-call.wav" in browser.get("/history/?start=2026-01-06&end=2026-01-06").content.decode()
    assert "late-call.wav" not in browser.get("/history/?start=2026-01-05&end=2026-01-05").content.decode()


def test_the_browser_posts_a_new_zone_and_unknown_names_are_refused(alice, alice_client):
    refused = alice_client.post("/account/time-zone/", {"time_zone": "Mars/Olympus_Mons"})
    assert refused.status_code == 400 and "IANA" in refused.json()["error"]
    assert not AccountSettings.objects.filter(user=alice).exists()
    saved = alice_client.post("/account/time-zone/", {"time_zone": "America/New_York"})
    assert saved.status_code == 200 and saved.json() == {"time_zone": "America/New_York"}
    page = alice_client.get("/upload/").content.decode()
    assert "Times are shown in America/New_York" in page and 'data-time-zone="America/New_York"' in page
    assert Client().post("/account/time-zone/", {"time_zone": "UTC"}).status_code == 302  # needs a login


def test_signed_out_pages_and_accounts_without_a_zone_show_server_time(alice_client):
    assert "Times are shown in UTC (sign in to see them in yours)" in Client().get("/").content.decode()
    assert "Times are shown in UTC." in alice_client.get("/upload/").content.decode()

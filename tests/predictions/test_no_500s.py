"""Requests that used to end in a 500 now end in a message: out-of-range history dates."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("query", ["end=9999-12-31", "start=9999-12-31", "start=0001-01-01&end=0001-01-02"])
def test_history_page_with_a_date_past_the_calendar_shows_a_form_error(alice_client, query):
    response = alice_client.get(f"/history/?{query}")
    assert response.status_code == 200
    assert "Pick a date between 1900-01-01 and 2999-12-31." in response.content.decode()


@pytest.mark.parametrize("query", ["end=9999-12-31", "start=9999-12-31"])
def test_history_csv_with_a_date_past_the_calendar_is_refused_with_the_reason(alice_client, query):
    response = alice_client.get(f"/history.csv?{query}")
    assert response.status_code == 400
    assert "Pick a date between" in response.content.decode()


def test_history_csv_with_a_valid_filter_still_exports(alice_client):
    response = alice_client.get("/history.csv?start=2024-01-01&end=2999-12-31")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")

"""Times in the viewer's zone, in a real browser: the zone Chromium reports (Intl API) is stored at log-in
and names itself on every page; a browser in another zone updates it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from browser_steps import log_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def stored_zone(user) -> str:
    from predictions.models import AccountSettings

    return AccountSettings.objects.filter(user=user).values_list("time_zone", flat=True).first() or ""


def test_a_browser_in_tokyo_sees_tokyo_times_and_a_trip_to_new_york_moves_them(
    new_page, make_user, store_prediction, fake_version, shot
):
    user = make_user("yuki")
    store_prediction(user, fake_version, name="late-call.wav", when=datetime(2026, 1, 5, 23, 30, tzinfo=UTC))
    page = new_page(timezone_id="Asia/Tokyo")
    log_in(page, "yuki")
    assert stored_zone(user) == "Asia/Tokyo"
    page.goto("/history/")
    expect(page.locator("#time-zone-note")).to_have_text("Times are shown in Asia/Tokyo.")
    expect(page.get_by_role("row", name="late-call.wav").first).to_contain_text("2026-01-06 08:30 JST")
    shot(page, "history-in-tokyo")

    # The same account, already signed in, opened in a browser set to New York: the page posts the new
    # zone, and the next page shows New York times.
    travel = new_page(timezone_id="America/New_York")
    travel.context.add_cookies(page.context.cookies())
    with travel.expect_response(lambda r: r.url.endswith("/account/time-zone/") and r.status == 200):
        travel.goto("/upload/")
    assert stored_zone(user) == "America/New_York"
    travel.goto("/history/")
    expect(travel.locator("#time-zone-note")).to_have_text("Times are shown in America/New_York.")
    expect(travel.get_by_role("row", name="late-call.wav").first).to_contain_text("2026-01-05 18:30 EST")

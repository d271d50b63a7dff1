"""A phone (375×812, touch): the header folds into a Menu button, uncertain reasons are text on the page,
and the upload box does not ask a finger to drop files."""

from __future__ import annotations

import re

import pytest
from browser_steps import log_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812, "has_touch": True, "is_mobile": True}


def header_height(page) -> float:
    return page.locator(".site-header").bounding_box()["height"]


def test_on_a_phone_the_header_is_one_row_with_a_menu_button(new_page, make_user, shot):
    make_user("pia")
    page = new_page(**PHONE)
    log_in(page, "pia")
    nav = page.get_by_role("navigation", name="Main")
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav.get_by_role("link", name="My uploads")).to_be_hidden()
    # One row: the brand and the button (the old header wrapped to four rows, about 150 px).
    assert header_height(page) <= 70, header_height(page)
    shot(page, "phone-header-closed")

    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    for name in ("Upload", "My uploads", "History", re.compile(r"^Account")):
        expect(nav.get_by_role("link", name=name, exact=isinstance(name, str))).to_be_visible()
    expect(nav.get_by_role("button", name="Log out")).to_be_visible()
    shot(page, "phone-header-open")
    nav.get_by_role("link", name="History").click()
    expect(page).to_have_url(re.compile(r"/history/$"))
    expect(page.get_by_role("link", name="My uploads")).to_be_hidden()  # closed again on the next page


def test_on_a_wide_screen_the_links_show_without_a_menu_button(new_page, make_user):
    make_user("wes")
    page = new_page()
    log_in(page, "wes")
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="My uploads")).to_be_visible()


def test_a_touch_screen_sees_uncertain_reasons_and_no_drop_hint(
    new_page, make_user, store_prediction, fake_version, shot
):
    user = make_user("tao")
    reason = "little speech (0.6 s)"
    prediction = store_prediction(user, fake_version, top="sad", uncertain_reason=reason)
    page = new_page(**PHONE)
    log_in(page, "tao")
    expect(page.get_by_role("button", name="Choose files…")).to_be_visible()
    expect(page.get_by_text("Drop recordings here")).to_be_hidden()
    shot(page, "phone-upload")
    for url in (f"/jobs/{prediction.file.job_id}/", "/history/", prediction.get_absolute_url()):
        page.goto(url)
        expect(page.locator(".badge--uncertain").first).to_be_visible()
        expect(page.get_by_text(reason).first).to_be_visible()
        shot(page, "phone-uncertain-" + url.strip("/").replace("/", "-"))


def test_a_mouse_still_gets_the_drop_hint(new_page, make_user):
    make_user("max")
    page = new_page()
    log_in(page, "max")
    expect(page.get_by_text("Drop recordings here")).to_be_visible()


def test_the_front_door_fits_a_phone(new_page, shot):
    page = new_page(**PHONE)
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hear the emotion in a voice")
    expect(page.locator("#content").get_by_role("link", name="Sign up")).to_be_visible()
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    assert header_height(page) <= 70
    shot(page, "phone-landing")

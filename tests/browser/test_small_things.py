"""Small things that break trust: Compare waits for two ticks, file names wrap between words, the
prediction page's chart and table are not two identical headings."""

from __future__ import annotations

import re

import pytest
from browser_steps import log_in
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# How many lines an element's text takes (a cell's own box is one rectangle however many lines it holds).
LINES_JS = """(el) => {
  const range = document.createRange();
  range.selectNodeContents(el);
  return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size;
}"""


def test_compare_is_disabled_until_two_recordings_are_ticked(new_page, make_user, store_prediction, fake_version):
    user = make_user("cora")
    made = [store_prediction(user, fake_version, top=top, name=f"{top}.wav") for top in ("sad", "calm", "happy")]
    page = new_page()
    log_in(page, "cora")
    page.goto("/history/")
    compare = page.get_by_role("button", name="Compare selected")
    expect(compare).to_be_disabled()
    page.get_by_label(f"Compare {made[0].file.original_name}").check()
    expect(compare).to_be_disabled()
    expect(page.locator("#compare-form .help")).to_contain_text("1 ticked")
    page.get_by_label(f"Compare {made[1].file.original_name}").check()
    expect(compare).to_be_enabled()
    compare.click()
    page.wait_for_url(re.compile(r"/compare/\?"))
    expect(page.locator("#compare-list li")).to_have_count(2)


@pytest.mark.parametrize("width", [1366, 375])
def test_file_names_wrap_between_words_not_inside_them(new_page, make_user, store_prediction, fake_version, width):
    from predictions.models import AudioFile

    user = make_user("nico")
    prediction = store_prediction(user, fake_version, name="long-interview-take.wav", windows=["sad", "calm"])
    # Beside a long failure reason, as in a job of a real recording and a file that is not audio.
    AudioFile.objects.create(
        job_id=prediction.file.job_id,
        user=user,
        original_name="notaudio.wav",
        status=AudioFile.Status.FAILED,
        error="This is not a WAV, FLAC, OGG or MP3 recording: its first bytes are text, so it was "
        "probably renamed; export it from your recorder or editor as one of those formats and upload again.",
    )
    page = new_page(width=width, height=900)
    log_in(page, "nico")
    for url, row, cell in (
        (f"/jobs/{prediction.file.job_id}/", "#job-files tr", ".file-name"),
        ("/history/", "#history-table tbody tr", "th[scope=row]"),  # a failed file's name is plain text
    ):
        page.goto(url)
        name = page.locator(row).filter(has_text="notaudio.wav").locator(cell).first
        expect(name).to_contain_text("notaudio.wav")
        assert name.evaluate(LINES_JS) == 1, f"{url}: 'notaudio.wav' is broken over lines at {width} px"


def test_the_prediction_page_has_no_two_identical_headings(new_page, make_user, store_prediction, fake_version):
    user = make_user("hana")
    prediction = store_prediction(user, fake_version)
    page = new_page()
    log_in(page, "hana")
    page.goto(prediction.get_absolute_url())
    titles = page.locator("h1, h2, h3, figcaption.card__title, caption").all_text_contents()
    titles = [t.strip() for t in titles if t.strip()]
    assert len(titles) == len(set(titles)), titles


def test_an_empty_filter_says_nothing_matches_not_wait_for_analysis(
    new_page, make_user, store_prediction, fake_version
):
    user = make_user("fay")
    store_prediction(user, fake_version, top="sad")
    page = new_page()
    log_in(page, "fay")
    page.goto("/history/?emotion=angry")
    expect(page.locator(".chart-empty").first).to_contain_text("No predictions match these filters")
    expect(page.locator(".chart-empty").nth(1)).to_contain_text("No predictions match these filters")
    expect(page.locator("#history-table .empty-row")).to_contain_text("No recordings match")
    expect(page.locator("body")).not_to_contain_text("once recordings are analysed")
    fresh = new_page()
    make_user("gil")
    log_in(fresh, "gil")
    fresh.goto("/history/")
    expect(fresh.locator(".chart-empty").first).to_contain_text("No predictions yet")


@pytest.mark.parametrize("width", [1366, 375])
def test_a_one_file_job_draws_no_count_chart_and_the_result_bars_have_a_legend(
    new_page, make_user, store_prediction, fake_version, shot, width
):
    from predictions.models import AudioFile

    user = make_user("lena")
    one = store_prediction(user, fake_version, top="sad", name="alone.wav")
    two = [store_prediction(user, fake_version, top=top, name=f"{top}.wav") for top in ("calm", "angry")]
    AudioFile.objects.filter(pk=two[1].file_id).update(job=two[0].file.job)
    page = new_page(width=width, height=900 if width > 400 else 812)
    log_in(page, "lena")
    page.goto(one.file.job.get_absolute_url())
    legend = page.locator("#job-legend .legend li")
    expect(legend).to_have_count(8)
    if width > 400:
        expect(page.get_by_text("The bars in the Result column")).to_be_visible()
        expect(page.locator("#job-legend")).to_be_visible()
    else:  # phones show no bars in the rows, so no legend for them
        expect(page.locator("#job-legend")).to_be_hidden()
    expect(page.locator("#job-summary-chart")).to_have_count(0)  # one count on a 0-1 axis says nothing
    shot(page, f"one-file-job-{width}")
    page.goto(two[0].file.job.get_absolute_url())
    expect(page.locator("#job-summary-chart")).to_be_visible()
    expect(page.locator("#job-summary-chart")).to_have_attribute(
        "aria-label", "Top emotion of 2 recordings: calm 1, angry 1."
    )
    expect(legend).to_have_count(8)
    shot(page, f"two-file-job-{width}")

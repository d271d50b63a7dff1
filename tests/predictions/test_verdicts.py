"""One way to read a result on every page: whole percents, the second choice, the doubt badge; the
timeline's segments and exports; the model note; "My uploads"; small things (favicon, bad date range)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from conftest import job_status, upload_file, wav_bytes, zip_bytes

from mlcore.labels import EMOTIONS
from predictions.models import Job, Prediction
from predictions.pipeline import registry
from predictions.reading import timeline
from predictions.reading.readmodel import model_figures
from predictions.reading.verdicts import pct

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("p", "text"), [(0.5947, "59%"), (0.595, "60%"), (0.0, "0%"), (0.003, "<1%"), (0.997, ">99%"), (1.0, "100%")]
)
def test_probabilities_read_as_whole_percents_that_never_round_to_a_false_zero_or_hundred(p, text):
    assert pct(p) == text


@pytest.fixture
def plain_model(db, tiny_bundle):
    """A model without any notion of doubt (no `uncertain` rule in its metrics)."""
    version, _ = registry.register_bundle(tiny_bundle, activate=True)
    return version


def test_the_same_confidence_reads_the_same_on_the_job_history_and_prediction_pages(
    alice, alice_client, make_prediction, model_version
):
    prediction = make_prediction(alice, emotion="angry", model=model_version, top_probability=0.5947)
    pages = [
        alice_client.get(f"/predictions/{prediction.pk}/").content.decode(),
        alice_client.get(f"/jobs/{prediction.file.job_id}/").content.decode(),
        alice_client.get("/history/").content.decode(),
    ]
    for html in pages:
        html = re.sub(r"<script.*?</script>", "", html, flags=re.S)  # what people read, not the charts' data
        assert "59%" in html and "0.595" not in html and "0.5947" not in html
    # The second choice sits beside the first: the seven others share 40.53% equally, neutral comes first.
    assert "then neutral 6%" in pages[0] and "then neutral 6%" in pages[1] and "then neutral 6%" in pages[2]
    shown = job_status(alice_client, prediction.file.job_id)["files"][0]["shown"]
    assert shown == {
        "top_emotion": "angry",
        "top_label": "59%",
        "second_emotion": "neutral",
        "second_label": "6%",
        "doubt": None,
    }


def test_a_low_top_probability_from_a_model_without_doubt_is_shown_as_uncertain_everywhere(
    alice, alice_client, make_prediction, plain_model
):
    prediction = make_prediction(alice, model=plain_model, top_probability=0.3)
    assert not prediction.uncertain  # stored as the model said; only the display doubts it
    reason = "top probability 30% is below 50%"
    html = alice_client.get(f"/predictions/{prediction.pk}/").content.decode()
    assert f'<span id="uncertain" class="badge badge--uncertain">uncertain: {reason}</span>' in html
    for url in (f"/jobs/{prediction.file.job_id}/", "/history/"):
        assert f'<span class="badge badge--uncertain">uncertain: {reason}</span>' in (
            alice_client.get(url).content.decode()
        )
    file = job_status(alice_client, prediction.file.job_id)["files"][0]
    assert file["uncertain"] is False and file["shown"]["doubt"] == reason


def test_a_confident_result_from_a_model_without_doubt_has_no_badge(alice, alice_client, make_prediction, plain_model):
    prediction = make_prediction(alice, model=plain_model, top_probability=0.8)
    assert "badge--uncertain" not in alice_client.get(f"/predictions/{prediction.pk}/").content.decode()


def test_the_prediction_page_notes_what_the_model_was_trained_on_and_links_to_its_page(
    alice, alice_client, make_prediction, model_version
):
    prediction = make_prediction(alice, model=model_version)
    html = alice_client.get(f"/predictions/{prediction.pk}/").content.decode()
    note = model_figures(model_version).note
    assert f'<p id="model-note" class="model-note">{note} <a href="/models/{model_version.pk}/">' in html
    metrics = model_version.metrics  # the shipped model's own figures, not hard-coded ones
    ravdess = pct(metrics["cv"]["ravdess accuracy"])
    assert f"RAVDESS ({metrics['corpora']['ravdess']['speakers']} speakers)" in note
    assert f"RAVDESS {ravdess})" in note and "of the time on new speakers of those corpora (" in note
    model_page = alice_client.get(f"/models/{model_version.pk}/").content.decode()
    assert note in model_page
    away = model_figures(model_version).away
    assert len(away) == 2  # another corpus and another language
    for what, accuracy in away:
        assert f"<dt>Right on {what}</dt><dd>{pct(accuracy)}</dd>" in model_page


def test_the_model_note_says_how_it_does_away_from_home_in_plain_words(plain_model):
    plain_model.metrics = {
        "corpora": {"ravdess": {"speakers": 20}, "crema-d": {"speakers": 50}},
        "cv": {"protocol": "5-fold speaker-held-out"},
        "per_corpus": {"ravdess": {"accuracy": 0.8}, "crema-d": {"accuracy": 0.7}},
        "leave_one_corpus_out": {"crema-d->ravdess": {"accuracy": 0.5}, "ravdess->crema-d": {"accuracy": 0.4}},
        "unseen_language": {"accuracy": 0.6, "accuracy_all_eight": 0.41},
    }
    note = model_figures(plain_model).note
    assert "right 75% of the time on new speakers of those corpora (RAVDESS 80%, CREMA-D 70%)" in note
    assert "less often on recordings made elsewhere (a corpus it never heard: 45%" in note
    assert "Korean speech, a language it never heard: 41%)" in note


def test_the_model_note_survives_metrics_of_any_shape(plain_model):
    for metrics in ({}, {"accuracy": "n/a"}, {"corpora": ["x"], "cv": 3}, {"corpora": {"ravdess": 5}, "cv": {}}):
        plain_model.metrics = metrics
        assert model_figures(plain_model).note.startswith(f"Model {plain_model.name}")
    plain_model.metrics = {"accuracy": 0.5}
    assert model_figures(plain_model).note == f"Model {plain_model.name}; right 50% of the time on its test set."


# --- timeline -------------------------------------------------------------------------------------------
def _windows(tops: list[str], *, window: float = 4.0, hop: float = 2.0, p: float = 0.9) -> list[dict]:
    out = []
    for k, top in enumerate(tops):
        probs = dict.fromkeys(EMOTIONS, (1 - p) / 7)
        probs[top] = p
        out.append({"start_s": k * hop, "end_s": k * hop + window, "probabilities": probs})
    return out


def test_segments_join_windows_of_one_emotion_and_tile_the_recording():
    windows = _windows(["sad", "sad", "angry", "angry", "angry", "sad"])
    segs = timeline.segments(windows, 14.0)
    assert [s.label for s in segs] == ["0:00-0:05 sad 90%", "0:05-0:11 angry 90%", "0:11-0:14 sad 90%"]
    assert segs[0].start_s == 0 and segs[-1].end_s == 14.0
    assert all(a.end_s == b.start_s for a, b in zip(segs, segs[1:], strict=False))


def test_a_recording_that_changes_mood_is_summarised_by_the_emotion_held_longest():
    spans = [timeline.Segment(0.0, 16.2, "angry", 0.7), timeline.Segment(16.2, 31.0, "sad", 0.6)]
    assert timeline.summary(spans, emotion="angry", share=0.52) == (
        "angry for 52% of the speech: angry 0:00-0:16, sad 0:16-0:31"
    )
    assert timeline.summary(spans[:1], emotion="angry", share=1.0) == ""


def test_the_timeline_is_hidden_for_a_clip_shorter_than_one_window():
    assert not timeline.shows_timeline(_windows(["sad"]), 3.0)
    assert not timeline.shows_timeline(_windows(["sad", "sad"]), 3.5)
    assert timeline.shows_timeline(_windows(["sad", "sad"]), 6.0)


def test_a_long_recordings_timeline_lists_segments_and_exports_csv_and_json(
    alice_client, model_version, post_upload, rng
):
    post_upload(alice_client, [upload_file("long.wav", wav_bytes(rng, seconds=9))])
    prediction = Prediction.objects.get()
    html = alice_client.get(f"/predictions/{prediction.pk}/").content.decode()
    # The engine's smoothed segments, as stored with the prediction, are what the page lists.
    segs = timeline.stored_segments(prediction)
    assert prediction.segments and [s.emotion for s in segs] == [s["emotion"] for s in prediction.segments]
    assert html.count('class="segment"') == len(segs) >= 1
    assert f'<span class="segment__label">{segs[0].label}</span>' in html
    response = alice_client.get(f"/predictions/{prediction.pk}/timeline.csv")
    assert response["Content-Disposition"] == 'attachment; filename="long-timeline.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == len(prediction.timeline)
    assert list(rows[0]) == ["start_s", "end_s", "top_emotion", *EMOTIONS]
    assert float(rows[-1]["end_s"]) == pytest.approx(prediction.timeline[-1]["end_s"], abs=1e-3)
    doc = json.loads(alice_client.get(f"/predictions/{prediction.pk}/timeline.json").content)
    assert doc["file"] == "long.wav" and len(doc["windows"]) == len(prediction.timeline)
    assert sum(doc["windows"][0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_someone_elses_timeline_export_is_404(alice, bob_client, make_prediction, model_version):
    prediction = make_prediction(alice, model=model_version)
    assert bob_client.get(f"/predictions/{prediction.pk}/timeline.csv").status_code == 404
    assert bob_client.get(f"/predictions/{prediction.pk}/timeline.json").status_code == 404


# --- jobs -------------------------------------------------------------------------------------------------
def test_jobs_are_named_by_the_zip_the_file_or_the_first_file_and_a_count(
    alice_client, model_version, post_upload, rng
):
    post_upload(
        alice_client, [upload_file("session.zip", zip_bytes({"a.wav": wav_bytes(rng), "b.wav": wav_bytes(rng)}))]
    )
    post_upload(alice_client, [upload_file("Recording 2026-11-21 14:03.wav", wav_bytes(rng))])
    post_upload(alice_client, [upload_file(f"take{k}.wav", wav_bytes(rng)) for k in range(3)])
    assert list(Job.objects.order_by("id").values_list("name", flat=True)) == [
        "session.zip",
        "Recording 2026-11-21 14:03.wav",
        "take0.wav +2",
    ]
    html = alice_client.get("/jobs/").content.decode()
    assert html.index("take0.wav +2") < html.index("Recording 2026-11-21 14:03.wav") < html.index("session.zip")
    row = html[html.index(">session.zip<") :]
    row = row[: row.index("</tr>")]
    assert '<td class="num" data-label="Files">2</td>' in row and '<td class="num" data-label="Done">2</td>' in row
    assert 'id="jobs-summary-chart"' in html and 'id="jobs-data"' in html


def test_other_users_jobs_are_not_listed(alice, bob_client, make_prediction, model_version):
    make_prediction(alice, model=model_version, name="alices-secret.wav")
    html = bob_client.get("/jobs/").content.decode()
    assert "alices-secret.wav" not in html and "Nothing uploaded yet" in html


def test_an_upload_sent_by_script_lands_on_the_job_page_with_its_files_received_message(
    alice_client, model_version, django_capture_on_commit_callbacks, rng
):
    files = [upload_file(f"t{k}.wav", wav_bytes(rng)) for k in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/upload/", {"files": files}, headers={"X-Requested-With": "XMLHttpRequest"})
    job = Job.objects.get()
    assert response.status_code == 200 and response.json() == {"location": f"/jobs/{job.pk}/"}
    assert "2 files received" in alice_client.get(f"/jobs/{job.pk}/").content.decode()


# --- small things ---------------------------------------------------------------------------------------
def test_a_date_range_error_shows_no_rows_instead_of_every_row(alice, alice_client, make_prediction, model_version):
    make_prediction(alice, model=model_version, name="visible-without-filter.wav")
    assert "visible-without-filter.wav" in alice_client.get("/history/").content.decode()
    html = alice_client.get("/history/?start=2026-05-02&end=2026-05-01").content.decode()
    assert 'role="alert"' in html and "visible-without-filter.wav" not in html
    refused = alice_client.get("/history.csv?start=2026-05-02&end=2026-05-01")
    assert refused.status_code == 400 and b"visible-without-filter.wav" not in refused.content


def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")
    assert 'rel="icon"' in client.get("/accounts/login/").content.decode()


def test_the_export_link_has_a_space_between_its_arrow_and_its_words(alice_client):
    assert '<span aria-hidden="true">⬇</span> Export CSV</a>' in alice_client.get("/history/").content.decode()


# --- compare ---------------------------------------------------------------------------------------------
def test_compare_shows_two_to_four_of_ones_own_recordings(alice, bob, alice_client, make_prediction, model_version):
    mine = [make_prediction(alice, model=model_version, name=f"take{k}.wav") for k in range(5)]
    theirs = make_prediction(bob, model=model_version, name="bobs.wav")
    html = alice_client.get(f"/compare/?p={mine[0].pk}&p={mine[1].pk}&p={mine[2].pk}").content.decode()
    assert html.count("data-prediction-id=") == 3 and "take2.wav" in html and 'id="compare-data"' in html
    assert alice_client.get(f"/compare/?p={mine[0].pk}&p={theirs.pk}").status_code == 404
    for query in (f"p={mine[0].pk}", "&".join(f"p={m.pk}" for m in mine), f"p={mine[0].pk}&p={mine[0].pk}"):
        response = alice_client.get(f"/compare/?{query}", follow=True)
        assert response.redirect_chain[-1][0] == "/history/"
        assert "Choose 2 to 4 analysed recordings to compare." in response.content.decode()

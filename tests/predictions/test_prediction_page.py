"""The prediction page: the data the charts read, the audio player, the accessible table."""

from __future__ import annotations

import json
import re

import pytest
from conftest import upload_file, wav_bytes

from mlcore.labels import EMOTIONS
from predictions.models import Prediction
from predictions.reading import verdicts
from predictions.reading.verdicts import pct

pytestmark = pytest.mark.django_db


def chart_data(html: str) -> dict:
    start = html.index('<script id="prediction-data" type="application/json">') + len(
        '<script id="prediction-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_a_long_recording_shows_its_timeline_waveform_and_all_probabilities(
    alice_client, model_version, post_upload, rng
):
    post_upload(alice_client, [upload_file("long.wav", wav_bytes(rng, seconds=9))])
    prediction = Prediction.objects.get()
    html = alice_client.get(f"/predictions/{prediction.pk}/").content.decode()
    data = chart_data(html)
    assert data["labels"] == list(EMOTIONS)
    assert sum(data["probabilities"]) == pytest.approx(1.0, abs=1e-6)
    assert data["top_emotion"] == prediction.top_emotion and data["duration_s"] == pytest.approx(9.0, abs=0.01)
    assert len(data["envelope"]) == 800 and all(lo <= hi for lo, hi in data["envelope"])
    assert len(data["timeline"]) > 1
    window = data["timeline"][0]
    assert {"start_s", "end_s", "probabilities", "speech"} <= set(window)
    assert set(window["probabilities"]) == set(EMOTIONS)
    # What the page writes about each window comes formatted from the server: its span, and its emotions
    # ranked with whole percents (the browser ranks and formats nothing itself).
    assert window["span"] == f"0:00-0:0{int(window['end_s'])}"
    top, top_pct = window["ranked"][0]
    assert top_pct == window["percents"][top] and window["percents"][top].endswith("%")
    assert [e for e, _ in window["ranked"]] == sorted(EMOTIONS, key=lambda e: -window["probabilities"][e])
    assert data["percents"] == [pct(p) for p in data["probabilities"]]
    assert (
        f'<audio id="prediction-audio" controls preload="metadata" src="/predictions/{prediction.pk}/audio/">' in html
    )
    for canvas in ("probability-chart", "waveform-canvas", "timeline-canvas"):
        assert f'<canvas id="{canvas}"' in html
    assert html.count("<tr data-emotion=") == 8 and 'id="probability-table"' in html


def test_a_short_recording_has_no_timeline_chart(alice_client, model_version, post_upload, rng):
    post_upload(alice_client, [upload_file("short.wav", wav_bytes(rng, seconds=2))])
    html = alice_client.get(f"/predictions/{Prediction.objects.get().pk}/").content.decode()
    assert 'id="timeline-canvas"' not in html and 'id="probability-chart"' in html


def test_a_result_the_model_doubts_is_stored_with_its_reason_and_badged_next_to_the_top_emotion(
    alice_client, doubtful_model, post_upload, rng
):
    post_upload(alice_client, [upload_file("murmur.wav", wav_bytes(rng, seconds=3))])
    prediction = Prediction.objects.get()
    assert prediction.uncertain
    assert re.fullmatch(r"top probability \d+% is below 99%", prediction.uncertain_reason)
    assert 2.0 < prediction.speech_s <= 3.0  # every model is gated by the voice detector
    html = alice_client.get(f"/predictions/{prediction.pk}/").content.decode()
    badge = f'<span id="uncertain" class="badge badge--uncertain">uncertain: {prediction.uncertain_reason}</span>'
    assert badge in html
    assert html.index('id="top-emotion"') < html.index(badge) < html.index('id="confidence"')
    assert f'(<span id="speech-s">{prediction.speech_s:.1f}</span> s of speech)' in html  # every model is gated
    data = chart_data(html)
    assert data["uncertain"] is True and data["uncertain_reason"] == prediction.uncertain_reason


def test_a_low_top_probability_is_not_second_guessed_when_the_model_has_its_own_doubt_rule(
    alice, alice_client, make_prediction, model_version
):
    # The shipped model flags its own doubt (metrics carry its `uncertain` rule); the pages only add a
    # doubt of their own for models without one (tests/predictions/test_verdicts.py).
    assert verdicts.model_gives_doubt(model_version)
    prediction = make_prediction(alice, model=model_version, top_probability=0.2)
    html = alice_client.get(f"/predictions/{prediction.pk}/").content.decode()
    assert 'id="top-emotion"' in html and "badge--uncertain" not in html
    assert chart_data(html)["uncertain"] is False
    assert "badge--uncertain" not in alice_client.get(f"/jobs/{prediction.file.job_id}/").content.decode()
    assert "badge--uncertain" not in alice_client.get("/history/").content.decode()


def test_the_seconds_of_speech_the_model_found_are_stored_and_shown(alice_client, speech_model, post_upload, rng):
    post_upload(alice_client, [upload_file("talk.wav", wav_bytes(rng, seconds=3, sr=16000))])
    prediction = Prediction.objects.get()
    assert prediction.speech_s == pytest.approx(3.0, abs=0.3)  # 3 s of speech with its pauses
    html = alice_client.get(f"/predictions/{prediction.pk}/").content.decode()
    assert f'(<span id="speech-s">{prediction.speech_s:.1f}</span> s of speech)' in html

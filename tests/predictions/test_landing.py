"""The front door: `/` signed out says what serweb does, how often its model is right, and how to get in."""

from __future__ import annotations

import re

from django.test import Client

from predictions.reading import readmodel
from predictions.reading.verdicts import pct


def _text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_signed_out_visitors_see_what_serweb_does_with_the_models_honest_figures(model_version):
    response = Client().get("/")
    assert response.status_code == 200
    body, text = response.content.decode(), _text(response)
    assert "eight emotions" in text
    assert 'href="/accounts/signup/"' in body and 'href="/accounts/login/"' in body
    figures = readmodel.model_figures(model_version)
    # The shipped model has figures for new speakers of its corpora and for recordings made elsewhere.
    assert figures.unseen_mean is not None and figures.away
    assert f"right about {pct(figures.unseen_mean)} of the time" in text
    for what, accuracy in figures.away:
        assert f"{pct(accuracy)} on {what}" in text
    # The honest part: away figures are lower, and the page says so.
    assert all(a < figures.unseen_mean for _, a in figures.away)
    assert "Less good at everything else" in text


def test_without_a_model_the_front_door_says_there_are_no_figures(db):
    text = _text(Client().get("/"))
    assert "No model is in use yet" in text and "Sign up" in text


def test_signed_in_users_go_straight_to_upload(alice_client):
    assert alice_client.get("/")["Location"] == "/upload/"

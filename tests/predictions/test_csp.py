"""Content-Security-Policy: scripts and styles from this site only, and pages that need nothing more."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.I)


def test_every_response_forbids_inline_and_foreign_scripts_and_styles(client):
    response = client.get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "Content-Security-Policy" in client.get("/healthz/")
    assert "Content-Security-Policy" in client.get("/no-such-page/")


def test_pages_hold_no_inline_scripts_handlers_or_style_attributes(alice, alice_client, make_prediction, model_version):
    prediction = make_prediction(alice, model=model_version)
    urls = [
        "/upload/",
        "/jobs/",
        f"/jobs/{prediction.file.job_id}/",
        f"/predictions/{prediction.pk}/",
        f"/models/{model_version.pk}/",
        "/history/",
        "/accounts/password_change/",
    ]
    for url in urls:
        html = alice_client.get(url).content.decode()
        assert not INLINE_SCRIPT.search(html), url
        assert not INLINE_HANDLER.search(html), url
        assert not STYLE_ATTRIBUTE.search(html), url

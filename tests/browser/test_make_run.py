"""`make run` is a real, asynchronous instance: scripts/run.py started as a person would start it (its own
SQLite, its own var/ folder), driven by Chromium.  An upload is answered at once and the job page shows a
file done while another is still queued; DEBUG is off (friendly 404, WhiteNoise's hashed static files, a
secret key generated once); one Ctrl-C stops the web server and the worker together."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from browser_steps import PASSWORD, ROOT, TIMEOUT_MS
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]
START_TIMEOUT_S = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    var = tmp_path_factory.mktemp("make-run")
    port = _free_port()
    keep = ("PATH", "HOME", "LANG", "NUMBA_CACHE_DIR", "TF_CPP_MIN_LOG_LEVEL", "SERWEB_ENCODER_DIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        SERWEB_VAR_DIR=str(var / "var"),
        SQLITE_PATH=str(var / "db.sqlite3"),
        UPLOAD_ROOT=str(var / "uploads"),
        MODEL_ROOT=str(var / "models"),
        PORT=str(port),
    )
    log = (var / "run.log").open("w")
    proc = subprocess.Popen([sys.executable, "scripts/run.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        text = (var / "run.log").read_text(errors="replace")
        if "celery@" in text and " ready." in text:
            try:
                if _get(url + "/healthz/")[0] == 200:
                    break
            except OSError:
                pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"scripts/run.py did not come up:\n{text[-3000:]}")
        time.sleep(0.5)
    yield SimpleNamespace(url=url, var=var / "var", proc=proc, log=var / "run.log")
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    log.close()


def test_an_upload_is_answered_at_once_and_files_finish_one_by_one(instance, browser, tmp_path, rng, shot):
    from audio_factory import voiced, write

    # Genuinely slow inputs: three 90 s recordings keep the single worker process busy for seconds each,
    # so while one is analysed another waits in the queue, whichever order the broker hands them out
    # (the filesystem transport orders messages published in the same millisecond at random).
    paths = [write(tmp_path / f"meeting-{k}.wav", voiced(rng, seconds=90.0, f0=120.0 + 20 * k)) for k in range(3)]
    context = browser.new_context(base_url=instance.url, viewport={"width": 1366, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/accounts/signup/")
    page.locator("#id_username").fill("runner")
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r"/upload/$"))
    page.locator("#id_files").set_input_files([str(p) for p in paths])
    started = time.monotonic()
    page.get_by_role("button", name="Upload and analyse").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    answered_s = time.monotonic() - started
    expect(page.locator(".messages")).to_contain_text("3 files received")
    assert page.locator("#job").get_attribute("data-finished") == "false", "the upload was processed in the request"
    # At one moment: a file done while another is still queued (the worker is busy with a third).
    snapshot = page.wait_for_function(
        """() => {
             const s = [...document.querySelectorAll("#job-files tbody tr")].map(r => r.dataset.status);
             return s.includes("done") && s.includes("queued") ? s : null;
           }""",
        timeout=TIMEOUT_MS,
        polling=200,
    ).json_value()
    assert sorted(snapshot) == ["done", "processing", "queued"] or sorted(snapshot) == ["done", "queued", "queued"]
    shot(page, "make-run-one-done-one-queued")
    expect(page.locator("#job-progress-text")).to_contain_text("Finished", timeout=240_000)
    expect(page.locator("#job-files tr[data-status='done']")).to_have_count(3)
    shot(page, "make-run-finished")
    context.close()
    assert not errors
    assert answered_s < 30, f"the upload took {answered_s:.1f} s to answer"


def test_it_runs_as_a_real_instance_with_debug_off(instance):
    status, body, _ = _get(instance.url + "/no-such-page/")
    assert status == 404 and b"Nothing here" in body and b"Traceback" not in body
    status, body, _ = _get(instance.url + "/accounts/login/")
    css = re.search(rb'href="(/static/css/serweb\.[0-9a-f]{12}\.css)"', body)
    assert css, "static files are not the hashed WhiteNoise copies"
    status, _, headers = _get(instance.url + css[1].decode())
    assert status == 200 and "max-age=315360000" in headers.get("Cache-Control", "")
    key = instance.var / "secret_key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_text().strip()) >= 50
    health = json.loads(_get(instance.url + "/healthz/")[1])
    assert health == {"database": "ok", "broker": "ok"}


def test_one_ctrl_c_stops_the_web_server_the_worker_and_the_webhook_worker(instance):
    children = subprocess.run(["pgrep", "-P", str(instance.proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) == 3
    instance.proc.send_signal(signal.SIGINT)
    assert instance.proc.wait(timeout=60) == 0
    for pid in children:
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} outlived Ctrl-C"
    with pytest.raises(OSError):
        _get(instance.url + "/healthz/")
    assert "serweb: stopped" in instance.log.read_text()

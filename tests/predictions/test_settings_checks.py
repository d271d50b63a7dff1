"""Configuration: zero-config development defaults, and production refusing to start half-configured."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "kq8Zt3uV-ExampleOnly-7yP2mN4bR6wJ9xC1dF5gH0jK3lQ8sT2vW6zA4cE7",
    "ALLOWED_HOSTS": "serweb.example.org,localhost",
    "SECURE_PROXY_SSL_HEADER": "1",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15",
}


def manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    base = {
        k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "NUMBA_CACHE_DIR", "TF_CPP_MIN_LOG_LEVEL")
    }
    base["SQLITE_PATH"] = str(tmp_path / "db.sqlite3")
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=300
    )


def test_with_no_environment_at_all_migrate_and_check_work(tmp_path):
    result = manage("migrate", "--noinput", env={}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "db.sqlite3").is_file()
    assert manage("check", env={}, tmp_path=tmp_path).returncode == 0


def test_importing_the_settings_creates_no_file_or_folder(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    places = {
        "BROKER_DIR": "broker",
        "UPLOAD_ROOT": "uploads",
        "MODEL_ROOT": "models",
        "STATIC_ROOT": "static",
        "SQLITE_PATH": "db.sqlite3",
    }
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "CELERY_BROKER_URL": "filesystem://"}
    env.update({name: str(tmp_path / where) for name, where in places.items()})
    result = subprocess.run(
        [sys.executable, "-c", "import serweb.settings"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"] and not any(home.iterdir())


def test_make_run_makes_the_broker_folders_its_settings_name(tmp_path, monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.delenv("BROKER_DIR", raising=False)
    run = _run_script()
    env = run.environment(tmp_path / "var")
    run.make_broker_folders(env)
    assert sorted(p.name for p in Path(env["BROKER_DIR"]).iterdir()) == ["control", "processed", "queue"]


def test_make_run_sizes_gunicorn_through_gunicorn_conf_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("RUN_WEB_WORKERS", "5")
    run = _run_script()
    env = run.environment(tmp_path / "var")
    web = run.process_commands(env, tmp_path, host="127.0.0.1", port="8123")["web"]
    assert web[web.index("-c") + 1] == str(ROOT / "gunicorn.conf.py")
    assert "--workers" not in web and "--threads" not in web
    conf: dict = {}
    monkeypatch.setattr(os, "environ", env)
    exec((ROOT / "gunicorn.conf.py").read_text(), conf)
    assert (conf["workers"], conf["threads"]) == (5, 4)


def _run_script():
    spec = importlib.util.spec_from_file_location("run", ROOT / "scripts" / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    return run


def test_debug_off_without_a_secret_key_is_refused_with_a_clear_error(tmp_path):
    env = {**PRODUCTION}
    del env["SECRET_KEY"]
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "serweb.E001" in result.stderr and "SECRET_KEY is not set and DEBUG=0" in result.stderr


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("change-me-to-a-long-random-string-of-fifty-or-more-characters-0123456789", "is a published placeholder"),
        ("abc", "is 3 characters long (at least 50 are needed)"),
        ("ab" * 40, "uses fewer than 5 different characters"),
    ],
)
def test_debug_off_with_a_placeholder_or_weak_secret_key_is_refused(tmp_path, key, why):
    result = manage("check", env={**PRODUCTION, "SECRET_KEY": key}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "serweb.E005" in result.stderr and f"SECRET_KEY {why} and DEBUG=0." in result.stderr


def test_the_env_example_placeholder_is_refused_in_production(tmp_path):
    example = (ROOT / ".env.example").read_text()
    placeholder = next(line.split("=", 1)[1] for line in example.splitlines() if line.startswith("SECRET_KEY="))
    result = manage("check", "--deploy", env={**PRODUCTION, "SECRET_KEY": placeholder}, tmp_path=tmp_path)
    assert result.returncode != 0 and "serweb.E005" in result.stderr


def test_secrets_can_come_from_files_named_by_file_variables(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text(PRODUCTION["SECRET_KEY"] + "\n")
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"} | {"SECRET_KEY_FILE": str(secret)}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    hosts = tmp_path / "hosts"
    hosts.write_text("files.example.org")
    env = {**PRODUCTION, "ALLOWED_HOSTS_FILE": str(hosts)}
    del env["ALLOWED_HOSTS"]
    shown = manage(
        "shell", "-c", "from django.conf import settings; print(settings.ALLOWED_HOSTS)", env=env, tmp_path=tmp_path
    )
    assert shown.stdout.strip().endswith("['files.example.org']"), shown.stderr


def test_an_unreadable_secret_file_is_named_in_the_error(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"} | {"SECRET_KEY_FILE": str(tmp_path / "missing")}
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0 and f"SECRET_KEY_FILE='{tmp_path / 'missing'}' cannot be read" in result.stderr


def test_debug_off_without_a_broker_is_refused_unless_eager_tasks_are_asked_for(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "CELERY_BROKER_URL"}
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0 and "serweb.E006" in result.stderr and "ALLOW_EAGER_TASKS=1" in result.stderr
    assert manage("check", env={**env, "ALLOW_EAGER_TASKS": "1"}, tmp_path=tmp_path).returncode == 0


def test_debug_off_without_allowed_hosts_is_refused(tmp_path):
    env = {**PRODUCTION}
    del env["ALLOWED_HOSTS"]
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0 and "serweb.E002" in result.stderr


def test_gunicorn_refuses_to_load_the_app_without_a_secret_key(tmp_path):
    env = {**PRODUCTION}
    del env["SECRET_KEY"]
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    result = subprocess.run(
        [sys.executable, "-c", "import serweb.wsgi"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0 and "SECRET_KEY is not set" in result.stderr


def test_check_deploy_is_clean_with_the_production_environment(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_a_malformed_boolean_is_reported_by_name(tmp_path):
    result = manage("check", env={"DEBUG": "maybe"}, tmp_path=tmp_path)
    assert result.returncode != 0 and "DEBUG='maybe' is not a boolean" in result.stderr


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p%40ss@db.example:6543/serweb?sslmode=require", ("serweb", "u", "p@ss", "db.example", "6543")),
        ("postgres://postgres@127.0.0.1/x", ("x", "postgres", "", "127.0.0.1", "")),
    ],
)
def test_database_url_is_parsed_for_psycopg(url, expected):
    from serweb.settings import database_from_url

    db = database_from_url(url)
    assert db["ENGINE"] == "django_prometheus.db.backends.postgresql"  # Django's, with query metrics
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == expected


@pytest.mark.django_db
def test_models_and_migrations_agree():
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_debug_left_at_its_default_is_refused_for_a_public_host_name(tmp_path):
    result = manage("check", env={"ALLOWED_HOSTS": "emotions.example.org"}, tmp_path=tmp_path)
    assert result.returncode != 0 and "serweb.E007" in result.stderr
    assert "DEBUG is on (its development default) while ALLOWED_HOSTS names emotions.example.org" in result.stderr
    # Asked for explicitly (a development box on a LAN name), or local names only: accepted.
    explicit = manage("check", env={"ALLOWED_HOSTS": "emotions.example.org", "DEBUG": "1"}, tmp_path=tmp_path)
    assert explicit.returncode == 0, explicit.stderr
    local = manage("check", env={"ALLOWED_HOSTS": "localhost,127.0.0.1"}, tmp_path=tmp_path)
    assert local.returncode == 0, local.stderr

"""docker-compose.yml and .env.example agree with each other and with settings.py (no Docker needed)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_example() -> dict[str, str]:
    pairs = [
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    return {k: v for k, v in pairs}


def test_compose_has_the_services_with_healthchecks_and_start_order():
    services = compose()["services"]
    assert set(services) == {"db", "redis", "s3", "buckets", "web", "worker", "webhooks", "beat", "migrate", "proxy"}
    assert services["db"]["image"] == "postgres:16" and services["redis"]["image"] == "redis:7"
    for name in ("db", "redis", "s3", "web", "worker", "webhooks", "proxy"):
        assert "healthcheck" in services[name], name
    for name in ("web", "worker", "webhooks", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["web"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "gunicorn -c gunicorn.conf.py serweb.wsgi" in " ".join(services["web"]["command"])
    worker = " ".join(services["worker"]["command"])
    # No -Q: the queues come from the app's configuration, so nobody can forget one.
    assert "celery -A serweb worker" in worker and "-Q" not in worker
    hooks = " ".join(services["webhooks"]["command"])
    assert "celery -A serweb worker -Q webhooks " in hooks and "--pool=threads" in hooks
    assert services["beat"]["command"][:4] == ["celery", "-A", "serweb", "beat"]
    assert (ROOT / "Dockerfile").is_file() and services["web"]["build"] == "."


def test_web_and_worker_share_one_media_volume_where_uploads_are_stored():
    doc = compose()
    env = env_example()
    mounts = {name: doc["services"][name]["volumes"] for name in ("web", "worker")}
    assert mounts["web"] == mounts["worker"] == ["media:/data"]
    assert "media" in doc["volumes"]
    assert env["UPLOAD_ROOT"].startswith("/data/") and env["MODEL_ROOT"].startswith("/data/")


def test_recordings_go_to_the_compose_minio_in_a_bucket_made_before_web_and_worker_start():
    services, env = compose()["services"], env_example()
    assert services["s3"]["image"].startswith("minio/minio:RELEASE.")
    assert env["AWS_S3_ENDPOINT_URL"] == "http://s3:9000" and env["AWS_STORAGE_BUCKET_NAME"]
    assert services["s3"]["environment"]["MINIO_ROOT_USER"] == "${AWS_ACCESS_KEY_ID}"
    assert "mc mb --ignore-existing" in " ".join(services["buckets"]["entrypoint"])
    assert services["buckets"]["depends_on"]["s3"]["condition"] == "service_healthy"
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["buckets"]["condition"] == "service_completed_successfully"


def test_env_example_lists_every_variable_settings_and_compose_read():
    env = env_example()
    settings_src = (ROOT / "serweb" / "settings.py").read_text()
    read_by_settings = set(re.findall(r'env_(?:str|bool|int|list)\("([A-Z_]+)"', settings_src))
    read_by_compose = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))
    assert read_by_settings, "settings.py reads no variables?"
    assert read_by_settings - set(env) == set()
    assert read_by_compose - set(env) == set()
    assert env["DATABASE_URL"].startswith("postgresql://") and "@db:5432/" in env["DATABASE_URL"]
    assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379")
    assert env["DEBUG"] == "0"


def test_only_a_buffering_proxy_faces_clients_and_gunicorn_runs_threaded_workers():
    services = compose()["services"]
    proxy, web = services["proxy"], services["web"]
    assert proxy["image"].startswith("nginx:") and "ports" not in web and proxy["ports"] == ["8000:80"]
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"
    (mount,) = proxy["volumes"]
    source, target = mount.split(":")[:2]
    assert target == "/etc/nginx/conf.d/default.conf"
    conf = (ROOT / source).read_text()
    assert re.search(r"^\s*proxy_request_buffering on;", conf, re.M)
    assert re.search(r"^\s*client_max_body_size \d+m;", conf, re.M)
    assert "server web:8000;" in conf and "proxy_pass http://serweb_web;" in conf
    gunicorn_conf = (ROOT / "gunicorn.conf.py").read_text()
    assert re.search(r'^worker_class = "gthread"$', gunicorn_conf, re.M)
    assert '"gunicorn", "-c", "gunicorn.conf.py", "serweb.wsgi"' in (ROOT / "Dockerfile").read_text()

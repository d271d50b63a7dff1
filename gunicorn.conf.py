"""gunicorn settings for serweb (read by ``gunicorn -c gunicorn.conf.py serweb.wsgi``, in compose and the image).

Threaded workers (gthread): a client that sends its upload slowly holds one thread, not a whole
worker, so /healthz/ and other users are still answered.  In production a buffering reverse proxy
(nginx in docker-compose.yml) sits in front and hands gunicorn only complete requests.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# A request may take this long (a 200-file upload is stored and probed inside it).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
accesslog = "-"
# The proxy's address is the only one allowed to set X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


# Request metrics from every gunicorn worker in one /metrics answer (prometheus_client's multiprocess
# mode, when PROMETHEUS_MULTIPROC_DIR is set; predictions.pipeline.monitoring reads the folder).
def on_starting(server) -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):  # a restart leaves the dead processes' files
            if name.endswith(".db"):
                os.unlink(os.path.join(folder, name))


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

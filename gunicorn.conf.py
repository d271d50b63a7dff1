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

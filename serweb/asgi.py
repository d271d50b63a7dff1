"""ASGI entry point (not used by the shipped compose set-up, which serves WSGI through gunicorn)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "serweb.settings")

application = get_asgi_application()

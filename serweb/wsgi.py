"""WSGI entry point (gunicorn ``serweb.wsgi``).

gunicorn does not run Django's system checks, so run the configuration checks here: a production
process with DEBUG=0 and no SECRET_KEY refuses to start with the checks' message instead of serving.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "serweb.settings")

application = get_wsgi_application()

from predictions.checks import raise_on_configuration_errors  # noqa: E402  (needs the app registry)

raise_on_configuration_errors()

"""The Celery app: configuration comes from Django settings (``CELERY_*``), tasks from the apps.

Workers run ``celery -A serweb worker --pool=prefork``: with no -Q they consume the queues
``CELERY_TASK_QUEUES`` names (inference, maintenance; Celery snapshots that list at start, so a task
the worker publishes elsewhere adds nothing); webhooks run in a worker of their own (``-Q webhooks``).
TensorFlow must never be initialised in the prefork parent (it deadlocks in forked children), so nothing
here or in ``predictions.tasks`` imports it at module level; each child loads the model in
``worker_process_init`` (see ``predictions.tasks``).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "serweb.settings")

app = Celery("serweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

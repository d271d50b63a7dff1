from typing import Any

from django.apps import AppConfig
from django.contrib import messages
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import post_migrate


class PredictionsConfig(AppConfig):
    name = "predictions"
    verbose_name = "Emotion predictions"

    def ready(self) -> None:
        from django.urls import register_converter

        from predictions import (
            checks,  # noqa: F401  (registers the system checks)
            tasks,  # noqa: F401  (registers the tasks the dispatcher publishes by name)
        )
        from predictions.lifecycle.notify import on_job_finished
        from predictions.lifecycle.webhooks import notify_job_finished
        from predictions.pipeline.registry import register_default_bundle_on_first_setup
        from predictions.signals import job_finished
        from predictions.web.ids import IdConverter
        from predictions.web.timezones import zone_from_login

        register_converter(IdConverter, "id")  # before any URLconf is read: <id:pk> in both URL maps

        post_migrate.connect(register_default_bundle_on_first_setup, sender=self)
        job_finished.connect(notify_job_finished, dispatch_uid="predictions.lifecycle.webhooks")
        job_finished.connect(on_job_finished, dispatch_uid="predictions.lifecycle.notify")
        user_logged_in.connect(_say_logged_in)
        user_logged_in.connect(zone_from_login, dispatch_uid="predictions.web.timezones")
        user_logged_out.connect(_say_logged_out)


def _say_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is not None and getattr(request.resolver_match, "url_name", None) != "signup":
        messages.success(request, f"Signed in as {user.username}.", fail_silently=True)


def _say_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is not None:
        messages.info(request, "You are signed out.", fail_silently=True)

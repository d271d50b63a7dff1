from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PredictionsConfig(AppConfig):
    name = "predictions"
    verbose_name = "Emotion predictions"

    def ready(self) -> None:
        from predictions import checks  # noqa: F401  (registers the system checks)
        from predictions.services import register_default_bundle_on_first_setup

        post_migrate.connect(register_default_bundle_on_first_setup, sender=self)

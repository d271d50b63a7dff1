"""Admin: the model-version registry (bundle upload, activation, metrics) and read-only jobs/files/predictions."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from mlcore.errors import MlcoreError
from predictions.models import AudioFile, Job, ModelVersion, Prediction
from predictions.models.api import ApiToken, JobCallback, WebhookAttempt
from predictions.pipeline import recordings, registry
from predictions.reading import readmodel
from predictions.reading.verdicts import metrics_of, pct


class BundleUploadForm(forms.ModelForm):
    bundle_zip = forms.FileField(
        label="Bundle (.zip)",
        help_text="A zip of a model bundle directory (manifest.json, model.keras, …). It is verified, loaded and "
        "run on a generated clip before it is registered; it is not activated automatically.",
    )

    class Meta:
        model = ModelVersion
        fields: list[str] = []

    def clean_bundle_zip(self):
        upload = self.cleaned_data["bundle_zip"]
        try:
            self.instance = registry.register_uploaded_bundle(upload)
        except MlcoreError as e:
            raise forms.ValidationError(f"Bundle refused: {e}") from e
        except recordings.StoreUnavailable as e:
            raise forms.ValidationError(
                "The object store did not answer, so the bundle could not be kept for the worker nodes; "
                "nothing was registered. Try again when the store is back."
            ) from e
        return upload

    def save(self, commit: bool = True) -> ModelVersion:
        return self.instance

    def save_m2m(self) -> None:  # nothing to relate; the admin calls it after save_model
        pass


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "shipped", "architecture", "is_active", "accuracy", "n_predictions", "created_at")
    list_filter = ("is_active", "architecture")
    search_fields = ("name", "fingerprint")
    readonly_fields = ("shipped", "architecture", "bundle_path", "fingerprint", "is_active", "created_at", "figures")
    fields = ("name", "shipped", "architecture", "bundle_path", "fingerprint", "is_active", "created_at", "figures")
    actions = ["activate"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(prediction_total=Count("predictions"))

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = BundleUploadForm
            kwargs["fields"] = ["bundle_zip"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["bundle_zip"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change) -> None:
        if change:  # on add, the form registered the verified bundle already
            obj.save()

    def has_delete_permission(self, request, obj=None) -> bool:
        # The active version serves every new file; versions with predictions are referenced by them.
        if obj is not None and (obj.is_active or obj.predictions.exists()):
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="shipped as")
    def shipped(self, obj: ModelVersion) -> str:
        """Which shipped bundle it is: the default (set-up activates it) or the fast one; "—" for an upload."""
        return {"default": "Default model", "fast": "Fast model"}.get(registry.shipped_role(obj), "—")

    @admin.display(description="accuracy (as the model page shows it)")
    def accuracy(self, obj: ModelVersion) -> str:
        """The figure the public model page shows (``ModelFigures.accuracy``), in its format."""
        value = readmodel.model_figures(obj).accuracy
        return "—" if value is None else pct(value)

    @admin.display(description="figures")
    def figures(self, obj: ModelVersion):
        """The metrics a person reads, as a table (the raw metrics.json stays in the bundle)."""
        figures = readmodel.model_figures(obj)
        m = figures.metrics
        rows = [
            (
                "Right on new speakers (as the model page shows)",
                pct(figures.accuracy) if figures.accuracy is not None else "—",
            )
        ]
        rows += [(f"Right on unseen {corpus} speakers", pct(a)) for corpus, a in figures.unseen]
        rows += [(f"Right on {what}", pct(a)) for what, a in figures.away]
        rows += [
            (label, f"{value:.3f}")
            for label, value in (
                ("Accuracy on its test set", m.accuracy),
                ("Macro-F1", m.macro_f1),
                ("Calibration error (ECE) after calibration", m.calibration.ece_after if m.calibration else None),
            )
            if value is not None
        ]
        if figures.trained_on:
            rows.insert(0, ("Trained on", figures.trained_on))
        body = format_html_join("", '<tr><th scope="row">{}</th><td>{}</td></tr>', rows)
        return format_html('<table class="model-figures"><tbody>{}</tbody></table>', body)

    @admin.display(description="predictions", ordering="prediction_total")
    def n_predictions(self, obj: ModelVersion) -> int:
        return obj.prediction_total

    @admin.action(description="Activate the selected version (exactly one)")
    def activate(self, request, queryset) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        version = queryset.get()
        active = ModelVersion.active()
        new, old = readmodel.model_figures(version).accuracy, active and readmodel.model_figures(active).accuracy
        if active and active != version and None not in (new, old) and new < old and not request.POST.get("confirm"):
            # Worse figures than the model serving now: say so, and switch only when confirmed.
            context = self.admin_site.each_context(request) | {
                "title": "Activate a model with worse figures?",
                "version": version,
                "active": active,
                "new_figure": pct(new),
                "old_figure": pct(old),
                "opts": self.model._meta,
            }
            return TemplateResponse(request, "admin/predictions/modelversion/activate_confirm.html", context)
        version.activate()
        self.message_user(request, f"“{version}” is now the active model; new uploads use it.", messages.SUCCESS)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if version is not None:
            metrics = metrics_of(version)
            extra_context.update(
                model_metrics=metrics,
                # The charts' labels, formatted here: the browser has no percent rule of its own.
                model_metrics_data=metrics.to_dict()
                | {
                    "per_class_percents": {e: pct(v) for e, v in metrics.per_class_accuracy.items()},
                    "accuracy_label": pct(metrics.accuracy),
                },
                # The same figure the public model page shows.
                model_figures=readmodel.model_figures(version),
                prediction_count=version.predictions.count(),
            )
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "status", "created_at", "finished_at")
    list_filter = ("status", "created_at")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    date_hierarchy = "created_at"


@admin.register(AudioFile)
class AudioFileAdmin(ReadOnlyAdmin):
    list_display = ("id", "original_name", "user", "job", "status", "size", "attempts", "created_at")
    list_filter = ("status", "content_type", "created_at")
    search_fields = ("original_name", "user__username", "sha256")
    list_select_related = ("user", "job")
    exclude = ("stored_name",)


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "file",
        "user",
        "top_emotion",
        "confidence",
        "uncertain",
        "duration_s",
        "model_version",
        "uploaded_at",
    )
    list_filter = ("top_emotion", "uncertain", "model_version", "uploaded_at")
    search_fields = ("file__original_name", "user__username")
    list_select_related = ("file", "user", "model_version")
    exclude = ("envelope",)
    date_hierarchy = "uploaded_at"


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens by owner, name and clear prefix (never the hash); an admin may revoke one by deleting it."""

    list_display = ("prefix", "name", "user", "created_at", "last_used_at")
    search_fields = ("prefix", "name", "user__username")
    list_select_related = ("user",)
    exclude = ("key_hash",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("predictions.delete_apitoken")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = ("attempted_at", "status_code", "error")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(JobCallback)
class JobCallbackAdmin(ReadOnlyAdmin):
    """Each job's webhook delivery: where, its state, and every attempt."""

    list_display = ("job", "url", "state")
    list_filter = ("state",)
    search_fields = ("url", "job__user__username")
    list_select_related = ("job",)
    inlines = [WebhookAttemptInline]

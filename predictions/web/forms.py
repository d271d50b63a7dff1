"""Forms: sign-up, upload, history filters, a recording's name and note.  Validation lives in clean_* methods."""

from __future__ import annotations

from datetime import date

from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm

from mlcore.labels import EMOTIONS
from predictions.models import AudioFile, ModelVersion
from predictions.pipeline.uploads import ACCEPT, NO_NAME


class SignupForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")
        help_texts = {"email": "Optional: only used to send you a link if you forget your password."}


class RecordingForm(forms.ModelForm):
    """A recording's name (what the user calls it; never a path) and a note."""

    class Meta:
        model = AudioFile
        fields = ("original_name", "note")
        labels = {"original_name": "Name", "note": "Note"}
        widgets = {"note": forms.Textarea(attrs={"rows": 3})}
        # The name is stripped of spaces before this check: a blank name is refused, not stored.
        error_messages = {"original_name": {"required": "Give the recording a name."}}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ACCEPT}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            # An empty part without a name is what a browser sends for "no file chosen" (the parser
            # names it; see request_errors): not a file.  A nameless part with content is one.
            data = [d for d in data if not (d.name == NO_NAME and d.size == 0)] or None
        if isinstance(data, (list, tuple)):
            return [single(d, initial) for d in data]
        return [single(data, initial)]


class UploadForm(forms.Form):
    # Per-file problems (size, format, content) do not invalidate the form: each refused file becomes
    # a failed row with its reason, and the other files of the submit are processed.
    files = MultipleFileField(
        label="Recordings",
        help_text="WAV, FLAC, OGG or MP3 files, or a .zip of them.",
        # An empty file is still a file to report on; FileField would refuse it for the whole form.
        allow_empty_file=True,
    )

    def clean_files(self) -> list:
        files = self.cleaned_data["files"]
        if len(files) > settings.UPLOAD_MAX_FILES:
            raise forms.ValidationError(
                f"{len(files)} files were sent; at most {settings.UPLOAD_MAX_FILES} can be uploaded at once."
            )
        return files


class HistoryFilterForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")
    emotion = forms.ChoiceField(required=False, choices=[("", "Any emotion")] + [(e, e.capitalize()) for e in EMOTIONS])
    model = forms.ModelChoiceField(required=False, queryset=ModelVersion.objects.all(), empty_label="Any model")

    # Dates the history can be filtered by: wide enough for any upload, narrow enough that a day or a
    # week either side (the filter's bounds, the chart's buckets) never leaves Python's date range.
    EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)

    def _in_range(self, field: str) -> date | None:
        value = self.cleaned_data.get(field)
        if value and not self.EARLIEST <= value <= self.LATEST:
            raise forms.ValidationError(
                f"Pick a date between {self.EARLIEST.isoformat()} and {self.LATEST.isoformat()}."
            )
        return value

    def clean_start(self) -> date | None:
        return self._in_range("start")

    def clean_end(self) -> date | None:
        end = self._in_range("end")
        start = self.cleaned_data.get("start")
        if start and end and end < start:
            raise forms.ValidationError("The end date is before the start date.")
        return end

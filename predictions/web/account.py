"""The account page (/account/): API tokens, the default webhook and its signing secret, and deleting
the account.  Tokens and webhooks are the API's (predictions.models.api); deletion is predictions.lifecycle.deletion."""

from __future__ import annotations

import logging

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from predictions.lifecycle import deletion, webhooks
from predictions.models import AccountSettings
from predictions.models.api import ApiToken, WebhookSettings, new_signing_secret
from predictions.web import access, timezones

logger = logging.getLogger(__name__)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Token name", help_text="What the token is for, e.g. “nightly batch”.")


class WebhookForm(forms.Form):
    default_url = forms.URLField(
        max_length=500,
        required=False,
        label="Default webhook URL",
        assume_scheme="https",
        help_text="Jobs sent without a callback_url are POSTed here when they finish. Leave empty for none.",
    )

    def clean_default_url(self) -> str:
        url = self.cleaned_data["default_url"]
        if url:
            try:
                webhooks.check_callback_url(url)
            except webhooks.CallbackRefused as e:
                raise forms.ValidationError(str(e)) from e
        return url


class NotifyForm(forms.Form):
    email = forms.EmailField(required=False, label="Email address", help_text="Also where a password-reset link goes.")
    email_when_done = forms.BooleanField(required=False, label="Email me when a long job finishes")

    def clean(self) -> dict:
        data = super().clean()
        if data.get("email_when_done") and not data.get("email"):
            raise forms.ValidationError("Give an email address to be emailed at.")
        return data


class DeleteAccountForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput, label="Your password")

    def __init__(self, user, *args, **kwargs) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password; the account was not deleted.")
        return password


def _render(request: HttpRequest, status: int = 200, **context) -> HttpResponse:
    hooks = WebhookSettings.for_user(request.user)
    prefs = AccountSettings.objects.filter(user=request.user).first()
    context = {
        "notify_form": NotifyForm(
            initial={"email": request.user.email, "email_when_done": bool(prefs and prefs.email_when_done)}
        ),
        "notify_after_min": max(1, settings.NOTIFY_AFTER_S // 60),
        "tokens": ApiToken.objects.filter(user=request.user),
        "token_form": TokenForm(),
        "webhook_form": WebhookForm(initial={"default_url": hooks.default_url}),
        "signing_secret": hooks.signing_secret,
        "delete_form": DeleteAccountForm(request.user),
        **context,
    }
    return render(request, "predictions/account.html", context, status=status)


@login_required
@require_GET
def account_page(request: HttpRequest) -> HttpResponse:
    return _render(request)


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _render(request, 400, token_form=form)
    token, raw = ApiToken.issue(request.user, form.cleaned_data["name"])
    # Rendered, not redirected: the token is shown this once and never stored in clear (not even a session).
    return _render(request, 201, new_token=raw, new_token_name=token.name)


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = access.token_for(request.user, pk)
    token.revoke()
    messages.success(request, f"The token “{token.name}” is revoked; requests with it now get 401.")
    return redirect("predictions:account")


@login_required
@require_POST
def webhook_update(request: HttpRequest) -> HttpResponse:
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return _render(request, 400, webhook_form=form)
    hooks = WebhookSettings.for_user(request.user)
    hooks.default_url = form.cleaned_data["default_url"]
    hooks.save(update_fields=["default_url"])
    messages.success(request, "Default webhook saved." if hooks.default_url else "Default webhook removed.")
    return redirect("predictions:account")


@login_required
@require_POST
def secret_rotate(request: HttpRequest) -> HttpResponse:
    hooks = WebhookSettings.for_user(request.user)
    hooks.signing_secret = new_signing_secret()
    hooks.save(update_fields=["signing_secret"])
    messages.success(request, "New signing secret: deliveries from now on are signed with it.")
    return redirect("predictions:account")


@login_required
@require_POST
def time_zone_update(request: HttpRequest) -> HttpResponse:
    """The browser's zone (static/js/timezone.js posts it when it differs from the stored one)."""
    if not timezones.save_zone(request, request.user, request.POST.get("time_zone", "")):
        return JsonResponse({"error": "`time_zone` must be an IANA zone name such as Europe/Paris."}, status=400)
    return JsonResponse({"time_zone": request.session[timezones.SESSION_KEY]})


@login_required
@require_POST
def notify_update(request: HttpRequest) -> HttpResponse:
    form = NotifyForm(request.POST)
    if not form.is_valid():
        return _render(request, 400, notify_form=form)
    request.user.email = form.cleaned_data["email"]
    request.user.save(update_fields=["email"])
    wanted = form.cleaned_data["email_when_done"]
    AccountSettings.objects.update_or_create(user=request.user, defaults={"email_when_done": wanted})
    messages.success(request, "You will get an email when a long job finishes." if wanted else "Email settings saved.")
    return redirect("predictions:account")


@login_required
@require_POST
def account_delete(request: HttpRequest) -> HttpResponse:
    form = DeleteAccountForm(request.user, request.POST)
    if not form.is_valid():
        return _render(request, 400, delete_form=form)
    user = request.user
    logout(request)
    deletion.delete_account(user)
    messages.info(request, "Your account, recordings and results are deleted.")
    return redirect("login")

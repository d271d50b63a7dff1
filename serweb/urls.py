"""URL map: accounts (django.contrib.auth), the predictions app, the REST API, admin, health check."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path

from predictions.pipeline import monitoring
from predictions.web import views

# Requests refused while parsing (too many files, unreadable parts) say why instead of a bare 400.
handler400 = "predictions.web.request_errors.bad_request"
# While PostgreSQL is unreachable, pages answer 503 with Retry-After rather than a 500.
handler500 = "predictions.web.request_errors.server_error"


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    return HttpResponsePermanentRedirect(static("favicon.svg"))


urlpatterns = [
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    # Forgotten passwords: Django's own views, the link sent by email (printed on the console by default).
    path("accounts/password_reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("admin/", admin.site.urls),
    path("healthz/", views.healthz, name="healthz"),
    path("metrics", monitoring.metrics_view, name="metrics"),
    # Browsers ask for /favicon.ico whatever the page links to; point them at the static icon.
    path("favicon.ico", favicon),
    path("api/", include("predictions.api.urls")),
    path("", include("predictions.web.urls")),
]

handler404 = "predictions.api.errors.not_found"

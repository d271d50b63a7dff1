from django.urls import path, re_path

from predictions.web import account, live_views, views
from predictions.web.ids import ID_PATTERN

# <id:pk> is predictions.web.ids.IdConverter, registered by the app's ready().

app_name = "predictions"

urlpatterns = [
    path("", views.home, name="home"),
    path("upload/", views.upload, name="upload"),
    path("jobs/<id:pk>/", views.job_detail, name="job"),
    path("jobs/<id:pk>/status.json", views.job_status, name="job_status"),
    path("jobs/<id:pk>/delete/", views.job_delete, name="job_delete"),
    path("predictions/<id:pk>/", views.prediction_detail, name="prediction"),
    path("predictions/<id:pk>/edit/", views.prediction_update, name="prediction_update"),
    path("predictions/<id:pk>/delete/", views.prediction_delete, name="prediction_delete"),
    path("predictions/<id:pk>/audio/", views.prediction_audio, name="audio"),
    re_path(
        rf"^predictions/(?P<pk>{ID_PATTERN})/timeline\.(?P<fmt>csv|json)$", views.prediction_timeline, name="timeline"
    ),
    path("jobs/", views.jobs_page, name="jobs"),
    path("live/", live_views.chunk, name="live"),
    path("live/<id:pk>/finish/", live_views.finish, name="live_finish"),
    path("live/<id:pk>/status.json", live_views.status, name="live_status"),
    path("models/<id:pk>/", views.model_detail, name="model"),
    path("history/", views.history_page, name="history"),
    path("history.csv", views.history_csv, name="history_csv"),
    path("compare/", views.compare, name="compare"),
    path("account/", account.account_page, name="account"),
    path("account/tokens/", account.token_create, name="token_create"),
    path("account/tokens/<id:pk>/revoke/", account.token_revoke, name="token_revoke"),
    path("account/webhook/", account.webhook_update, name="webhook_update"),
    path("account/webhook/secret/", account.secret_rotate, name="secret_rotate"),
    path("account/notifications/", account.notify_update, name="notify_update"),
    path("account/time-zone/", account.time_zone_update, name="time_zone"),
    path("account/delete/", account.account_delete, name="account_delete"),
]

from django.urls import path, re_path

from predictions import account, views

app_name = "predictions"

urlpatterns = [
    path("", views.home, name="home"),
    path("upload/", views.upload, name="upload"),
    path("jobs/<int:pk>/", views.job_detail, name="job"),
    path("jobs/<int:pk>/status.json", views.job_status, name="job_status"),
    path("jobs/<int:pk>/delete/", views.job_delete, name="job_delete"),
    path("predictions/<int:pk>/", views.prediction_detail, name="prediction"),
    path("predictions/<int:pk>/audio/", views.prediction_audio, name="audio"),
    re_path(r"^predictions/(?P<pk>\d+)/timeline\.(?P<fmt>csv|json)$", views.prediction_timeline, name="timeline"),
    path("jobs/", views.jobs_page, name="jobs"),
    path("live/", views.live_chunk, name="live"),
    path("models/<int:pk>/", views.model_detail, name="model"),
    path("history/", views.history_page, name="history"),
    path("history.csv", views.history_csv, name="history_csv"),
    path("compare/", views.compare, name="compare"),
    path("account/", account.account_page, name="account"),
    path("account/tokens/", account.token_create, name="token_create"),
    path("account/tokens/<int:pk>/revoke/", account.token_revoke, name="token_revoke"),
    path("account/webhook/", account.webhook_update, name="webhook_update"),
    path("account/webhook/secret/", account.secret_rotate, name="secret_rotate"),
    path("account/delete/", account.account_delete, name="account_delete"),
]

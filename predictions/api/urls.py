"""The API's URL map (``api`` namespace), included once from serweb/urls.py under /api/."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from predictions.api import views

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("v1/tokens", views.TokenList.as_view(), name="tokens"),
    path("v1/tokens/<id:pk>", views.TokenDetail.as_view(), name="token"),
    path("v1/jobs", views.JobList.as_view(), name="jobs"),
    path("v1/jobs/<id:pk>", views.JobDetail.as_view(), name="job"),
    path("v1/predictions", views.PredictionList.as_view(), name="predictions"),
    path("v1/predictions.csv", views.PredictionCsv.as_view(), name="predictions_csv"),
    path("v1/predictions/<id:pk>", views.PredictionDetail.as_view(), name="prediction"),
    path("v1/models/active", views.ActiveModel.as_view(), name="active_model"),
]

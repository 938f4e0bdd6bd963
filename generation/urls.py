"""Generation and judge jobs (/projects/<slug>/jobs/…)."""
from django.urls import path

from . import views

app_name = "generation"

urlpatterns = [
    path("<slug:slug>/jobs/", views.job_list, name="job_list"),
    path("<slug:slug>/jobs/start/", views.job_start_view, name="job_start"),
    path("<slug:slug>/jobs/params/", views.job_params, name="job_params"),
    path("<slug:slug>/jobs/<int:job_id>/progress/", views.job_progress, name="job_progress"),
    path("<slug:slug>/jobs/<int:job_id>/cancel/", views.job_cancel_view, name="job_cancel"),
    path("<slug:slug>/jobs/<int:job_id>/retry/", views.job_retry_view, name="job_retry"),
]

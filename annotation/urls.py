"""The annotation queue and review page (/projects/<slug>/annotate/…)."""
from django.urls import path

from . import views

app_name = "annotation"

urlpatterns = [
    path("<slug:slug>/annotate/", views.review, name="review"),
    path("<slug:slug>/annotate/<int:assignment_id>/submit/", views.submit, name="submit"),
    path("<slug:slug>/annotate/<int:assignment_id>/skip/", views.skip, name="skip"),
    path("<slug:slug>/annotate/<int:assignment_id>/reveal/", views.reveal, name="reveal"),
    path("<slug:slug>/annotate/undo/", views.undo, name="undo"),
    path("<slug:slug>/annotate/watch/", views.queue_watch, name="queue_watch"),
    path("<slug:slug>/annotate/guidelines/", views.guidelines, name="guidelines"),
    path("<slug:slug>/annotate/judgments/", views.history, name="history"),
]

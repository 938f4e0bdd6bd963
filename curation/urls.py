from django.urls import path

from . import views
from .exports import views as export_views

app_name = "curation"

urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("new/", views.project_create, name="project_create"),
    path("<slug:slug>/", views.project_detail, name="project_detail"),
    path("<slug:slug>/pairs/", views.pair_list, name="pair_list"),
    path("<slug:slug>/pairs/<int:pair_id>/", views.pair_detail, name="pair_detail"),
    path("<slug:slug>/pairs/<int:pair_id>/adjudicate/", views.adjudicate, name="adjudicate"),
    path("<slug:slug>/import/", views.project_import, name="project_import"),
    path("<slug:slug>/settings/", views.project_settings, name="project_settings"),
    path("<slug:slug>/members/", views.project_members, name="project_members"),
    path("<slug:slug>/exports/", export_views.export_list, name="export_list"),
    path("<slug:slug>/exports/new/", export_views.export_create, name="export_create"),
    path("<slug:slug>/exports/<int:export_id>/progress/", export_views.export_progress, name="export_progress"),
    path("<slug:slug>/exports/<int:export_id>/files/<str:filename>", export_views.export_download, name="export_download"),

    path("<slug:slug>/dashboard/", views.dashboard, name="dashboard"),
    path("<slug:slug>/adjudication/", views.adjudication_queue, name="adjudication_queue"),
    path("<slug:slug>/route/", views.route, name="route"),
    path("<slug:slug>/judges/", views.judges, name="judges"),
]

from django.urls import path

from . import views

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
    path("<slug:slug>/dashboard/", views.dashboard, name="dashboard"),
    path("<slug:slug>/adjudication/", views.adjudication_queue, name="adjudication_queue"),
    path("<slug:slug>/route/", views.route, name="route"),
]

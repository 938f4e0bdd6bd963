"""REST API routes (/api/…). docs/api.md describes them; /api/docs/ shows the schema."""
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

from . import views

app_name = "api"

project = "projects/<slug:slug>/"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("auth/token/", obtain_auth_token, name="token"),
    path("projects/", views.ProjectList.as_view(), name="project_list"),
    path(project, views.ProjectDetail.as_view(), name="project_detail"),
    path(project + "prompts/", views.PromptList.as_view(), name="prompt_list"),
    path(project + "pairs/", views.PairList.as_view(), name="pair_list"),
    path(project + "pairs/<int:pair_id>/", views.PairDetail.as_view(), name="pair_detail"),
    path(project + "judgments/", views.JudgmentList.as_view(), name="judgment_list"),
    path(project + "rubrics/", views.RubricList.as_view(), name="rubric_list"),
    path(project + "agreement/", views.AgreementReport.as_view(), name="agreement"),
    path(project + "jobs/", views.JobList.as_view(), name="job_list"),
    path(project + "jobs/<int:job_id>/", views.JobDetail.as_view(), name="job_detail"),
    path(project + "jobs/<int:job_id>/cancel/", views.JobCancel.as_view(), name="job_cancel"),
    path(project + "exports/", views.ExportList.as_view(), name="export_list"),
    path(project + "exports/<int:export_id>/", views.ExportDetail.as_view(), name="export_detail"),
    path(project + "exports/<int:export_id>/download/", views.ExportDownload.as_view(), name="export_download"),
    path(project + "import/", views.ImportUpload.as_view(), name="import"),
]

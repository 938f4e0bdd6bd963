from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

handler500 = "curation.middleware.server_error"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="curation:project_list", permanent=False)),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("curation.api.urls")),
    path("projects/", include("annotation.urls")),
    path("projects/", include("generation.urls")),
    path("projects/", include("curation.urls")),
]

"""REST API routes (/api/…)."""
app_name = "api"

urlpatterns: list = []

"""The annotation queue and review page (/projects/<slug>/annotate/…)."""
app_name = "annotation"

urlpatterns: list = []

"""Generation and judge jobs (/projects/<slug>/jobs/…)."""
app_name = "generation"

urlpatterns: list = []

from django.apps import AppConfig
from django.db.models.signals import post_delete


class CurationConfig(AppConfig):
    name = "curation"
    verbose_name = "Curation"

    def ready(self) -> None:
        from . import tallies
        from .models import Project

        post_delete.connect(tallies.forget_project, sender=Project, dispatch_uid="curation.tallies.forget_project")

"""Celery tasks of the curation app (default queue): thin, primary keys in, a service call."""
from celery import shared_task

from . import services
from .models import Project


@shared_task(name="curation.tasks.run_export", acks_late=True)
def run_export(export_id: int) -> None:
    services.export_run(export_id=export_id)


@shared_task
def route_pairs(project_id: int) -> str:
    """A routing round for one project (after an upload, or "Route now")."""
    project = Project.objects.get(pk=project_id)
    return services.pairs_route(project=project).line()

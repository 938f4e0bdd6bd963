"""Celery tasks of the curation domain: thin, primary keys in, a service call."""
from celery import shared_task

from .models import Project
from .services import pairs_route


@shared_task
def route_pairs(project_id: int) -> str:
    """A routing round for one project (after an upload, or "Route now")."""
    project = Project.objects.get(pk=project_id)
    return pairs_route(project=project).line()

"""Celery tasks of the curation app (default queue): thin, primary keys in, a service call."""
from celery import shared_task

from . import services


@shared_task(name="curation.tasks.run_export", acks_late=True)
def run_export(export_id: int) -> None:
    services.export_run(export_id=export_id)

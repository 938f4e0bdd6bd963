"""Celery tasks: thin, by primary key (routed to the ``generation`` queue).

A worker started with ``celery -A config worker`` also runs the recovery sweep
(``generation.jobs.items_recover``) when it is ready and then periodically, so the
items of a worker killed mid-job are redone.
"""
import os

from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down

from . import jobs

_recovery: jobs.RecoveryThread | None = None


@shared_task(name="generation.tasks.run_job_item", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job_item(item_id: int) -> str:
    hostname = run_job_item.request.hostname or "local"
    return jobs.item_run(item_id=item_id, worker=f"{hostname}:{os.getpid()}")


@worker_ready.connect
def start_recovery(**_) -> None:
    global _recovery
    if _recovery is None:
        _recovery = jobs.RecoveryThread()
        _recovery.start()


@worker_shutting_down.connect
def stop_recovery(**_) -> None:
    if _recovery is not None:
        _recovery.stop()

"""Jobs and their items: start, run, finish, cancel, retry and recover.

The database is the source of truth, whatever the broker:

* **start** checks the method, its parameters and the backend's capabilities, then
  the broker connection, and only then creates the job and its items in one
  transaction; the items are published after the commit, and if publishing fails
  the job is deleted again, so nothing is left half-created.
* **claim**: a task moves its item from pending (or running with a stale heartbeat,
  i.e. its worker died) to running with one conditional UPDATE. A duplicated or
  redelivered task finds nothing to claim and does nothing.
* **heartbeat**: while an item runs, a thread refreshes ``heartbeat_at``.
* **recover** (``items_recover``): items whose heartbeat went stale are put back to
  pending and published again (failed after ``CONCORD_ITEM_MAX_ATTEMPTS``); pending
  items left unclaimed for too long are published again. Workers run it when they
  start and every ``CONCORD_RECOVERY_INTERVAL`` seconds; ``run_job --wait`` runs it too.
* **progress** is recounted from the items under a lock on the job row; a job ends
  when no item is pending or running: done, failed (some item failed) or cancelled.

Everything an item creates is keyed (LLMCall.call_key, unique prompt/response/pair
hashes, one judgment per pair and judge), so running an item twice creates nothing
twice.
"""
from __future__ import annotations

import logging
import threading
import traceback
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from curation.broker import BrokerUnreachable, broker_connection, safe_url
from curation.broker import broker_check as check_connection
from curation.models import FINISHED_STATES, GenerationJob, JobItem, JobState, Project

from .backends import BackendError, backend_capabilities
from .methods import METHODS, ItemContext, ParamError

logger = logging.getLogger(__name__)

ACTIVE_JOB_STATES = (JobState.QUEUED, JobState.RUNNING)
CREATE_BATCH = 1000


class JobStartError(Exception):
    """A job that cannot start; nothing was created. The message says why."""


# --- broker -------------------------------------------------------------------


def broker_check(conn) -> None:
    """curation.broker's check, as the JobStartError a job start reports."""
    try:
        check_connection(conn)
    except BrokerUnreachable as error:
        raise JobStartError(f"{error}; start it or fix CELERY_BROKER_URL — no job was created") from error


def items_publish(item_ids: list[int], conn=None) -> None:
    """Send one task per item to the ``generation`` queue (raises if the broker fails)."""
    from .tasks import run_job_item

    def send(c):
        for item_id in item_ids:
            run_job_item.apply_async(args=[item_id], connection=c, retry=False)

    if conn is not None:
        send(conn)
    else:
        with broker_connection() as fresh:
            send(fresh)


# --- start ----------------------------------------------------------------------


def job_start(*, project: Project, method: str, params: dict | None = None, created_by=None) -> GenerationJob:
    """Validate, check capabilities and the broker, create the job and its items, publish.

    Raises JobStartError (with nothing created) for an unknown method, a bad
    parameter, a missing backend capability, an empty plan or an unreachable broker.
    """
    spec = METHODS.get(method)
    if spec is None:
        raise JobStartError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    try:
        cleaned = spec.clean_params(project, params or {})
    except ParamError as error:
        raise JobStartError(str(error)) from None
    try:
        capabilities = backend_capabilities()
    except BackendError as error:
        raise JobStartError(str(error)) from None
    missing = [need for need in spec.needs if not capabilities.get(need)]
    if missing:
        raise JobStartError(
            f"method {method} needs the backend capability {', '.join(missing)}, which the "
            f"{settings.CONCORD_BACKEND} backend does not offer — no job was created"
        )
    with broker_connection() as conn:
        broker_check(conn)
        try:
            job = _job_create(project=project, spec=spec, params=cleaned, created_by=created_by)
        except ParamError as error:
            raise JobStartError(str(error)) from None
        item_ids = list(job.items.order_by("id").values_list("id", flat=True))
        try:
            items_publish(item_ids, conn)
        except Exception as error:
            job.delete()
            raise JobStartError(
                f"publishing the job's items to the broker at {safe_url(settings.CELERY_BROKER_URL)} failed "
                f"({type(error).__name__}: {error}); the job was removed"
            ) from error
    job.refresh_from_db()
    return job


@transaction.atomic
def _job_create(*, project: Project, spec, params: dict, created_by) -> GenerationJob:
    job = GenerationJob.objects.create(
        project=project, method=spec.name, params=params, created_by=created_by, state=JobState.QUEUED
    )
    now = timezone.now()
    items = [JobItem(job=job, key=key, payload=payload, enqueued_at=now) for key, payload in spec.plan(job)]
    if not items:
        raise JobStartError(f"nothing to do: the {spec.name} job found no prompts or pairs to work on")
    JobItem.objects.bulk_create(items, batch_size=CREATE_BATCH)
    GenerationJob.objects.filter(pk=job.pk).update(n_items=len(items))
    return job


# --- running one item --------------------------------------------------------------


def _stale_before():
    return timezone.now() - timedelta(seconds=settings.CONCORD_ITEM_STALE_SECONDS)


def item_claim(*, item_id: int, worker: str) -> bool:
    """Pending (or running with a stale heartbeat) → running, in one conditional UPDATE."""
    now = timezone.now()
    claimable = Q(state=JobItem.State.PENDING) | Q(state=JobItem.State.RUNNING, heartbeat_at__lt=_stale_before())
    active_jobs = GenerationJob.objects.filter(state__in=ACTIVE_JOB_STATES).values("id")
    claimed = (
        JobItem.objects.filter(claimable, pk=item_id, job_id__in=active_jobs)
        .update(state=JobItem.State.RUNNING, attempts=F("attempts") + 1, worker=worker[:200],
                started_at=now, heartbeat_at=now, error="")
    )
    if claimed:
        GenerationJob.objects.filter(pk=JobItem.objects.filter(pk=item_id).values("job_id")[:1],
                                     state=JobState.QUEUED).update(state=JobState.RUNNING, started_at=now)
    return bool(claimed)


class Heartbeat:
    """Refreshes the item's heartbeat from a thread while the item runs."""

    def __init__(self, item_id: int, worker: str):
        self.item_id, self.worker = item_id, worker
        self.interval = max(0.2, settings.CONCORD_ITEM_STALE_SECONDS / 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{item_id}", daemon=True)

    def beat(self) -> None:
        JobItem.objects.filter(pk=self.item_id, state=JobItem.State.RUNNING, worker=self.worker).update(
            heartbeat_at=timezone.now()
        )

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    self.beat()
                except Exception:  # a busy database: the next beat will do
                    logger.warning("heartbeat of item %s failed", self.item_id, exc_info=True)
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def item_run(*, item_id: int, worker: str, backend_factory=None) -> str:
    """Claim and run one item; returns what happened (skipped, done, failed)."""
    if not item_claim(item_id=item_id, worker=worker):
        return "skipped"
    item = JobItem.objects.select_related("job__project").get(pk=item_id)
    spec = METHODS[item.job.method]
    with Heartbeat(item_id, worker) as heartbeat:
        context = ItemContext(job=item.job, item=item, heartbeat=heartbeat.beat, backend_factory=backend_factory)
        try:
            spec.run_item(context)
        except Exception as error:
            logger.warning("item %s of job %s failed", item.key, item.job_id, exc_info=True)
            message = f"{type(error).__name__}: {error}" if isinstance(error, BackendError | ValueError) else (
                f"{type(error).__name__}: {error}\n" + traceback.format_exc(limit=3)
            )
            item_finish(item=item, worker=worker, error=message[:4000], created=context.created)
            return "failed"
    item_finish(item=item, worker=worker, created=context.created, details=context.details)
    return "done"


def item_finish(*, item: JobItem, worker: str, created: Counter, error: str = "", details: dict | None = None) -> None:
    """Record the item's outcome (only if this worker still holds it) and the job's progress."""
    state = JobItem.State.FAILED if error else JobItem.State.DONE
    result = {"created": dict(created), **(details or {})}
    with transaction.atomic():
        updated = JobItem.objects.filter(pk=item.pk, state=JobItem.State.RUNNING, worker=worker[:200]).update(
            state=state, error=error, result=result, finished_at=timezone.now()
        )
        if updated:
            job_progress_update(job_id=item.job_id, add_rows=created)


def job_progress_update(*, job_id: int, add_rows: Counter | dict | None = None) -> GenerationJob:
    """Recount the job's items under a lock on the job row; end the job when no item is active."""
    with transaction.atomic():
        job = GenerationJob.objects.select_for_update().get(pk=job_id)
        counts = dict(job.items.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
        job.n_done = counts.get(JobItem.State.DONE, 0)
        job.n_failed = counts.get(JobItem.State.FAILED, 0)
        if add_rows:
            rows = Counter(job.rows_created or {})
            rows.update({k: v for k, v in add_rows.items() if v})
            job.rows_created = dict(rows)
        active = counts.get(JobItem.State.PENDING, 0) + counts.get(JobItem.State.RUNNING, 0)
        finished_now = not active and job.state in ACTIVE_JOB_STATES
        if finished_now:
            job.state = JobState.FAILED if job.n_failed else JobState.DONE
            job.error = f"{job.n_failed} of {job.n_items} items failed" if job.n_failed else ""
            job.finished_at = timezone.now()
            # Both are lower bounds of the truth (reports miss a killed attempt's rows; a
            # count can miss rows not yet visible to this transaction): keep the larger.
            reported = job.rows_created or {}
            job.rows_created = {**reported, **{name: max(n, reported.get(name, 0))
                                               for name, n in _rows_of_job(job).items()}}
        job.save(update_fields=["n_done", "n_failed", "rows_created", "state", "error", "finished_at"])
        if finished_now and job.n_done:
            _job_finished(job)
        return job


def _rows_of_job(job: GenerationJob) -> dict[str, int]:
    """The rows the job created, counted in the database at its end. Items report what
    they created as they finish, but an attempt killed after writing and before reporting
    leaves its rows to the retry, which finds them existing and reports nothing."""
    from curation.models import Judgment, Pair, Prompt, Response

    counts = {
        "prompts": Prompt.objects.filter(generation_job=job).count(),
        "responses": Response.objects.filter(generation_job=job).count(),
        "pairs": Pair.objects.filter(generation_job=job).count(),
        "judgments": Judgment.objects.filter(generation_job=job).count(),
    }
    return {name: n for name, n in counts.items() if n or name in (job.rows_created or {})}


def _job_finished(job: GenerationJob) -> None:
    """New pairs and AI judgments change what humans should see: a routing round for the
    project once the job's rows are committed (curation decides what goes to the queue).
    A follow-up job registered with ``job_then`` starts then too."""
    from curation.tasks import route_pairs

    transaction.on_commit(lambda: _publish_quietly(route_pairs, job.project_id))
    followup = (job.params or {}).get(FOLLOWUP_KEY)
    if followup:
        transaction.on_commit(lambda: _followup_start(job, followup))


FOLLOWUP_KEY = "then"


def job_then(*, job: GenerationJob, method: str, params: dict) -> GenerationJob | None:
    """Start ``method`` on the job's project once ``job`` has finished with some items
    done (e.g. judge the pairs a sample job is writing). Kept in the job's params under
    ``then``, so it survives worker restarts; if the job has already finished, the
    follow-up starts now and is returned. Raises JobStartError for an unknown method."""
    if method not in METHODS:
        raise JobStartError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        if locked.state not in FINISHED_STATES:
            locked.params = {**locked.params, FOLLOWUP_KEY: {"method": method, "params": params}}
            locked.save(update_fields=["params"])
            return None
    return job_start(project=locked.project, method=method, params=params) if locked.n_done else None


def _followup_start(job: GenerationJob, followup: dict) -> None:
    try:
        started = job_start(project=job.project, method=followup["method"], params=followup.get("params") or {})
        logger.info("job %s finished: started follow-up %s job %s", job.pk, followup["method"], started.pk)
    except JobStartError as error:
        logger.warning("job %s finished: follow-up %s did not start: %s", job.pk, followup.get("method"), error)


def _publish_quietly(task, *args) -> None:
    try:
        task.delay(*args)
    except Exception:  # the broker being down must not fail the job that just finished
        logger.warning("could not queue %s for %s", task.name, args, exc_info=True)


# --- cancel, retry, recover ------------------------------------------------------


def job_cancel(*, job: GenerationJob) -> GenerationJob:
    """Stop the job: pending items are cancelled; an item already running finishes."""
    with transaction.atomic():
        locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
        if locked.state in FINISHED_STATES:
            return locked
        locked.items.filter(state=JobItem.State.PENDING).update(state=JobItem.State.CANCELLED, finished_at=timezone.now())
        locked.state = JobState.CANCELLED
        locked.finished_at = timezone.now()
        locked.error = "cancelled"
        locked.save(update_fields=["state", "finished_at", "error"])
    return job_progress_update(job_id=job.pk)


def job_retry_failed(*, job: GenerationJob) -> int:
    """Put the failed items back to pending and publish them; the job runs again."""
    with broker_connection() as conn:
        broker_check(conn)
        with transaction.atomic():
            locked = GenerationJob.objects.select_for_update().get(pk=job.pk)
            if locked.state in ACTIVE_JOB_STATES and not locked.items.filter(state=JobItem.State.FAILED).exists():
                return 0
            ids = list(locked.items.filter(state=JobItem.State.FAILED).values_list("id", flat=True))
            if not ids:
                return 0
            JobItem.objects.filter(id__in=ids).update(
                state=JobItem.State.PENDING, attempts=0, worker="", enqueued_at=timezone.now(), finished_at=None
            )
            locked.state = JobState.RUNNING
            locked.finished_at = None
            locked.error = ""
            locked.n_failed = 0
            locked.save(update_fields=["state", "finished_at", "error", "n_failed"])
        items_publish(ids, conn)
    return len(ids)


def items_recover(*, job_id: int | None = None) -> dict:
    """Requeue the items of dead workers and items whose message was lost.

    * running with a heartbeat older than CONCORD_ITEM_STALE_SECONDS → pending and
      published again, or failed once it was tried CONCORD_ITEM_MAX_ATTEMPTS times;
    * pending for longer than CONCORD_ITEM_PENDING_REQUEUE_SECONDS in a job where no
      item beat or finished for that long → published again (the claim makes a
      duplicate harmless);
    * active jobs with no active item are ended.
    """
    now = timezone.now()
    items = JobItem.objects.filter(job__state__in=ACTIVE_JOB_STATES)
    if job_id is not None:
        items = items.filter(job_id=job_id)
    stale = items.filter(state=JobItem.State.RUNNING, heartbeat_at__lt=_stale_before())
    exhausted = stale.filter(attempts__gte=settings.CONCORD_ITEM_MAX_ATTEMPTS)
    n_failed = exhausted.update(
        state=JobItem.State.FAILED, finished_at=now,
        error=f"the worker running it was lost {settings.CONCORD_ITEM_MAX_ATTEMPTS} times",
    )
    lost_ids = list(stale.values_list("id", flat=True))
    requeued = JobItem.objects.filter(id__in=lost_ids, state=JobItem.State.RUNNING, heartbeat_at__lt=_stale_before())
    n_lost = requeued.update(state=JobItem.State.PENDING, worker="", enqueued_at=now)
    waited = now - timedelta(seconds=settings.CONCORD_ITEM_PENDING_REQUEUE_SECONDS)
    # Only a stalled job's pending items are published again: while any item of a job
    # beats or finishes, its queue is moving and a lost message will be noticed later.
    moving = JobItem.objects.filter(job=OuterRef("pk")).filter(Q(heartbeat_at__gte=waited) | Q(finished_at__gte=waited))
    stalled = GenerationJob.objects.filter(state__in=ACTIVE_JOB_STATES).exclude(Exists(moving)).values("id")
    forgotten = list(
        items.filter(state=JobItem.State.PENDING, enqueued_at__lt=waited, job_id__in=stalled).values_list("id", flat=True)
    )
    to_publish = sorted(set(lost_ids) | set(forgotten))
    to_publish = list(JobItem.objects.filter(id__in=to_publish, state=JobItem.State.PENDING).values_list("id", flat=True))
    if to_publish:
        try:
            items_publish(to_publish)
            JobItem.objects.filter(id__in=forgotten).update(enqueued_at=now)
        except Exception:
            logger.warning("recovery could not publish %d items; will try again", len(to_publish), exc_info=True)
    jobs = GenerationJob.objects.filter(state__in=ACTIVE_JOB_STATES)
    if job_id is not None:
        jobs = jobs.filter(pk=job_id)
    idle = jobs.exclude(items__state__in=[JobItem.State.PENDING, JobItem.State.RUNNING]).values_list("id", flat=True)
    for idle_job in list(idle):
        job_progress_update(job_id=idle_job)
    return {"failed": n_failed, "requeued": n_lost, "republished": len(to_publish)}


class RecoveryThread(threading.Thread):
    """Runs ``items_recover`` now and then every CONCORD_RECOVERY_INTERVAL seconds (in a worker)."""

    def __init__(self):
        super().__init__(name="concord-recovery", daemon=True)
        self._stop = threading.Event()

    def run(self) -> None:
        while True:
            try:
                close_old_connections()
                result = items_recover()
                if any(result.values()):
                    logger.info("recovery: %s", result)
            except Exception:
                logger.warning("recovery sweep failed", exc_info=True)
            finally:
                connection.close()
            if self._stop.wait(settings.CONCORD_RECOVERY_INTERVAL):
                return

    def stop(self) -> None:
        self._stop.set()


def job_start_for_api(*, project: Project, method: str, params: dict, user) -> GenerationJob:
    """curation.job_service's ``start``: job_start with its errors as JobRejected."""
    from curation.job_service import JobRejected

    try:
        return job_start(project=project, method=method, params=params, created_by=user)
    except JobStartError as error:
        if isinstance(error.__cause__, BrokerUnreachable):
            raise JobRejected(str(error), None, unavailable=True) from None
        field = "method" if str(error).startswith("unknown method") else "params"
        raise JobRejected(str(error), field) from None


def job_cancel_for_api(*, job: GenerationJob, user) -> GenerationJob:
    """curation.job_service's ``cancel``."""
    from curation.job_service import JobRejected

    if job.is_finished:
        raise JobRejected(f"the job has already ended ({job.state})", "state")
    return job_cancel(job=job)

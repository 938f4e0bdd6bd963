"""A worker SIGKILLed in the middle of a job: a new worker finishes it, nothing is
created twice and the job's counts are right (issue 9).

Parametrized over the job's method: each ``KilledJob`` says how to set the project
up, which parameters to start the job with and what the finished job must hold. A
method (the judge job, say) is one more entry in ``KILLED_JOBS``: a setup making the
pairs it judges, its parameters, the model calls and ``{"judgments": n}``.
"""
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from curation import services
from curation.models import GenerationJob, JobItem, Judgment, LLMCall, Pair, Response
from generation.jobs import job_start
from tests.factories import PairFactory, PromptFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Slow fake model calls, quick recovery: the kill lands mid-item and the new worker's
# sweep requeues the lost item at once.
WORKER_ENV = {"CONCORD_BACKEND": "fake", "CONCORD_FAKE_DELAY": "0.7", "CONCORD_ITEM_STALE_SECONDS": "2",
              "CONCORD_RECOVERY_INTERVAL": "0.5"}


def four_prompts(project) -> None:
    for i in range(4):
        PromptFactory(project=project, text=f"Question {i}?")


def four_pairs_and_the_default_judges(project) -> None:
    services.judge_configs_ensure_defaults(project=project)
    for _ in range(4):
        PairFactory(project=project)


@dataclass(frozen=True)
class KilledJob:
    method: str
    setup: Callable  # (project) -> None: the rows the job works on
    params: dict
    llm_calls: int  # each model call made once, whatever was killed
    rows_created: dict = field(default_factory=dict)


KILLED_JOBS = [
    # 4 prompts × 3 samples, one prompt per item; 3 pairs per prompt.
    KilledJob("sample", four_prompts, {"n": 3, "pairing": "all", "prompts_per_item": 1}, llm_calls=12,
              rows_created={"responses": 12, "pairs": 12}),
    # 4 pairs, one per item; per pair a checklist, two rationales (one per order) and
    # two option-scoring calls; one Judgment per pair.
    KilledJob("judge", four_pairs_and_the_default_judges, {"judge": "pairwise-checklist"}, llm_calls=20,
              rows_created={"judgments": 4}),
]


@pytest.mark.parametrize("case", KILLED_JOBS, ids=lambda case: case.method)
def test_worker_killed_mid_job_is_recovered_without_duplicates(project, celery_worker, case):
    """SIGKILL the worker mid-item; a new worker redoes the lost item; nothing is duplicated."""
    case.setup(project)
    job = job_start(project=project, method=case.method, params=case.params)
    worker = celery_worker(env=WORKER_ENV)
    wait_until(lambda: JobItem.objects.filter(job=job, state="done").exists()
               and JobItem.objects.filter(job=job, state="running").exists(), worker)
    worker.kill()
    killed_running = list(JobItem.objects.filter(job=job, state="running").values_list("key", flat=True))
    assert killed_running, "the worker was killed between items; the test needs it mid-item"
    assert JobItem.objects.filter(job=job, state="pending").exists(), "the kill came too late to leave work"

    worker = celery_worker(env=WORKER_ENV)
    job = worker.wait_for_job(job, timeout=90)
    assert job.state == GenerationJob.State.DONE, job.error
    assert "recovery:" in worker.output()  # the new worker's sweep requeued the lost item
    assert JobItem.objects.get(job=job, key=killed_running[0]).attempts == 2
    assert set(JobItem.objects.filter(job=job).values_list("state", flat=True)) == {"done"}
    assert job.n_done == job.n_items and job.n_failed == 0
    calls = LLMCall.objects.filter(job=job)
    assert calls.count() == case.llm_calls
    assert job.rows_created == case.rows_created
    # The counts are the job's rows in the database: a retried item created nothing twice.
    for name, model in (("responses", Response), ("pairs", Pair), ("judgments", Judgment)):
        assert model.objects.filter(generation_job=job).count() == case.rows_created.get(name, 0), name


def wait_until(condition, worker, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached; worker log:\n" + worker.output()[-4000:])

"""Jobs through a real Celery worker process and a real broker (a worker killed
mid-job: tests/fault/test_worker_killed.py)."""
import pytest
from django.core.management import call_command

from curation.models import GenerationJob, JobItem, LLMCall, Pair, Response
from generation.jobs import job_start
from tests.factories import PromptFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_real_smollm2_sample_job_through_a_worker(project, celery_worker, settings):
    """SmolLM2-135M-Instruct writes short responses in a worker; pairs and LLMCalls follow."""
    call_command("prepare_model", verbosity=0)
    for text in ("Name a fruit.", "Say hello in French."):
        PromptFactory(project=project, text=text)
    job = job_start(project=project, method="sample", params={"n": 2, "max_new_tokens": 16, "pairing": "all"})
    worker = celery_worker(env={"CONCORD_BACKEND": "transformers", "CONCORD_MODEL_PATH": settings.CONCORD_MODEL_PATH})
    job = worker.wait_for_job(job, timeout=240)
    assert job.state == GenerationJob.State.DONE, job.error
    calls = LLMCall.objects.filter(job=job)
    assert calls.count() == 4
    for call in calls:
        assert call.backend == "transformers" and call.model == "SmolLM2-135M-Instruct"
        assert call.error == "" and call.n_output_tokens and 0 < call.n_output_tokens <= 16
        assert "<|im_start|>user" in call.prompt_text and call.latency_ms is not None
    assert Response.objects.filter(prompt__project=project, producer_kind="model").count() >= 3
    assert Pair.objects.filter(project=project, generation_job=job).count() == job.rows_created.get("pairs", 0) >= 1
    assert set(JobItem.objects.filter(job=job).values_list("state", flat=True)) == {"done"}


def test_run_job_wait_prints_a_summary_and_exits_1_when_the_job_failed(project, celery_worker):
    import json
    import subprocess
    import sys

    from tests.support.worker import ROOT

    PromptFactory(project=project, text="Name a river.")
    worker = celery_worker(env={"CONCORD_BACKEND": "fake"})

    def run_job(method: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "run_job", "--project", project.slug, "--method", method, "--wait", "--timeout", "90"],
            cwd=ROOT, env=worker.env, capture_output=True, text=True, timeout=120,
        )

    done = run_job("sample")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["state"] == "done" and summary["done"] == 1 and summary["failed"] == 0
    assert summary["rows_created"] == {"responses": 2, "pairs": 1}
    # The fake model does not answer in CodecLM's "Use case:" format: the item fails.
    failed = run_job("codeclm")
    assert failed.returncode == 1
    summary = json.loads(failed.stdout)
    assert summary["state"] == "failed" and summary["failed"] == 1
    assert "failed: 1 of 1 items failed" in failed.stderr
    item = JobItem.objects.get(job_id=summary["job"])
    assert "no 'Use case:' line" in item.error

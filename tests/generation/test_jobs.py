"""Job machinery: start checks, idempotent items, cancel, retry, recovery, broker down."""
import socket
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from curation.models import GenerationJob, JobItem, LLMCall, Pair, Response
from generation.jobs import JobStartError, item_run, items_recover, job_cancel, job_retry_failed, job_start
from tests.factories import PromptFactory

from .conftest import queued_messages

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the socket is


def test_start_creates_items_of_four_prompts_and_publishes_them(project, fake_backend, private_broker):
    prompts = PromptFactory.create_batch(5, project=project)
    job = job_start(project=project, method="sample", params={})
    assert job.n_items == 2 and job.state == GenerationJob.State.QUEUED
    assert [item.payload["prompt_ids"] for item in job.items.all()] == [[p.pk for p in prompts[:4]], [prompts[4].pk]]
    assert job.params["n"] == 2 and job.params["model"] == "SmolLM2-135M-Instruct"  # issue 4: N = 2 by default
    assert queued_messages(private_broker) == 2


def test_same_item_run_twice_creates_nothing_twice(project, fake_backend):
    PromptFactory(project=project)
    job = job_start(project=project, method="sample", params={"n": 3, "pairing": "all"})
    item = job.items.get()
    assert item_run(item_id=item.pk, worker="w1") == "done"
    counts = (Response.objects.count(), Pair.objects.count(), LLMCall.objects.count())
    assert counts == (3, 3, 3)
    # A duplicated delivery of a finished item is skipped by the claim …
    assert item_run(item_id=item.pk, worker="w2") == "skipped"
    # … and even forced to run again, the unique keys and recorded calls hold.
    JobItem.objects.filter(pk=item.pk).update(state=JobItem.State.PENDING)
    GenerationJob.objects.filter(pk=job.pk).update(state=GenerationJob.State.RUNNING)
    calls_before = len(fake_backend.requests)
    assert item_run(item_id=item.pk, worker="w3") == "done"
    assert (Response.objects.count(), Pair.objects.count(), LLMCall.objects.count()) == counts
    assert len(fake_backend.requests) == calls_before  # the model was not called again
    item.refresh_from_db()
    assert item.result["created"] == {} and item.attempts == 2


def test_item_running_elsewhere_with_a_fresh_heartbeat_is_not_claimed(project, fake_backend):
    PromptFactory(project=project)
    job = job_start(project=project, method="sample", params={})
    item = job.items.get()
    JobItem.objects.filter(pk=item.pk).update(state="running", worker="other", heartbeat_at=timezone.now())
    assert item_run(item_id=item.pk, worker="me") == "skipped"
    JobItem.objects.filter(pk=item.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert item_run(item_id=item.pk, worker="me") == "done"  # its worker is presumed dead


def test_failed_item_is_recorded_and_retried(project, fake_backend, run_items):
    PromptFactory.create_batch(2, project=project)
    fake_backend.script = ["a", "b", RuntimeError("GPU on fire")]
    job = job_start(project=project, method="sample", params={"prompts_per_item": 1})
    assert run_items(job) == ["done", "failed"]
    job.refresh_from_db()
    assert job.state == GenerationJob.State.FAILED and job.error == "1 of 2 items failed"
    failed = job.items.get(state="failed")
    assert "RuntimeError: GPU on fire" in failed.error
    assert LLMCall.objects.filter(job=job).exclude(error="").count() == 2  # the failed batch is recorded
    fake_backend.script, fake_backend._position = ["c", "d"], 0
    assert job_retry_failed(job=job) == 1
    assert run_items(job) == ["done"]
    job.refresh_from_db()
    assert job.state == GenerationJob.State.DONE and job.n_done == 2 and job.n_failed == 0
    assert Response.objects.count() == 4 and LLMCall.objects.filter(job=job, error="").count() == 4


def test_cancel_stops_pending_items(project, fake_backend, run_items):
    PromptFactory.create_batch(3, project=project)
    job = job_start(project=project, method="sample", params={"prompts_per_item": 1})
    first = job.items.first()
    assert item_run(item_id=first.pk, worker="w") == "done"
    job = job_cancel(job=job)
    assert job.state == GenerationJob.State.CANCELLED and job.n_done == 1
    assert list(job.items.values_list("state", flat=True)) == ["done", "cancelled", "cancelled"]
    # Their messages are still in the broker: delivered, they do nothing.
    assert [item_run(item_id=i, worker="w") for i in job.items.values_list("id", flat=True)] == ["skipped"] * 3
    assert Response.objects.count() == 2


def test_recovery_requeues_a_lost_item_and_fails_it_after_max_attempts(project, fake_backend, private_broker, settings):
    PromptFactory(project=project)
    job = job_start(project=project, method="sample", params={})
    item = job.items.get()
    long_ago = timezone.now() - timedelta(seconds=settings.CONCORD_ITEM_STALE_SECONDS + 5)
    JobItem.objects.filter(pk=item.pk).update(state="running", attempts=1, worker="dead", heartbeat_at=long_ago)
    before = queued_messages(private_broker)
    assert items_recover() == {"failed": 0, "requeued": 1, "republished": 1}
    assert queued_messages(private_broker) == before + 1
    item.refresh_from_db()
    assert item.state == "pending"
    JobItem.objects.filter(pk=item.pk).update(state="running", attempts=settings.CONCORD_ITEM_MAX_ATTEMPTS, heartbeat_at=long_ago)
    assert items_recover()["failed"] == 1
    job.refresh_from_db()
    assert job.state == GenerationJob.State.FAILED and job.n_failed == 1


def test_broker_down_fails_to_start_and_creates_nothing(project, fake_backend, settings):
    PromptFactory(project=project)
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    settings.CELERY_BROKER_CONNECTION_TIMEOUT = 1
    with pytest.raises(JobStartError, match=r"task broker at redis://127.0.0.1:\d+/0 is unreachable"):
        job_start(project=project, method="sample", params={})
    assert not GenerationJob.objects.exists() and not JobItem.objects.exists()


def test_start_refuses_bad_params_unknown_methods_and_missing_capabilities(project, fake_backend, settings):
    PromptFactory(project=project)
    with pytest.raises(JobStartError, match="parameter n: 'many' is not a valid int"):
        job_start(project=project, method="sample", params={"n": "many"})
    with pytest.raises(JobStartError, match="unknown parameter.*: colour"):
        job_start(project=project, method="sample", params={"colour": "red"})
    with pytest.raises(JobStartError, match="pairing: 'best' is not one of all, random, best_worst|not one of random, all, best_worst"):
        job_start(project=project, method="sample", params={"pairing": "best"})
    with pytest.raises(JobStartError, match="unknown method 'dream'"):
        job_start(project=project, method="dream", params={})
    settings.CONCORD_BACKEND = "openai"
    settings.CONCORD_OPENAI_SUPPORTS_SCORE = False
    with pytest.raises(JobStartError, match="needs the backend capability score"):
        job_start(project=project, method="contrastive_filter", params={})
    assert not GenerationJob.objects.exists()


def test_run_job_command_starts_a_job_and_reports_errors(project, fake_backend, capsys):
    PromptFactory(project=project)
    call_command("run_job", "--project", project.slug, "--method", "sample", "--param", "n=3")
    job = GenerationJob.objects.get()
    assert job.params["n"] == 3 and '"state": "queued"' in capsys.readouterr().out
    with pytest.raises(CommandError, match="The job did not start: parameter n") as error:
        call_command("run_job", "--project", project.slug, "--method", "sample", "--param", "n=x")
    assert error.value.returncode == 1
    with pytest.raises(CommandError, match="expected KEY=VALUE"):
        call_command("run_job", "--project", project.slug, "--method", "sample", "--param", "n")


def test_demo_jobs_queues_one_sample_job_once(fake_backend, capsys, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("setup_demo")
    call_command("demo_jobs")
    job = GenerationJob.objects.get()
    assert job.method == "sample" and job.params["max_new_tokens"] == 128
    assert sum(len(item.payload["prompt_ids"]) for item in job.items.all()) >= 30
    call_command("demo_jobs")
    assert GenerationJob.objects.count() == 1
    assert "nothing queued" in capsys.readouterr().out


def test_recovery_republishes_pending_items_of_a_stalled_job_only(project, fake_backend, private_broker, settings):
    PromptFactory.create_batch(2, project=project)
    job = job_start(project=project, method="sample", params={"prompts_per_item": 1})
    first, second = job.items.order_by("id")
    long_ago = timezone.now() - timedelta(seconds=settings.CONCORD_ITEM_PENDING_REQUEUE_SECONDS + 5)
    JobItem.objects.filter(job=job).update(enqueued_at=long_ago)
    JobItem.objects.filter(pk=first.pk).update(state="done", finished_at=timezone.now())
    assert items_recover()["republished"] == 0  # the job is moving: its queue is not lost
    JobItem.objects.filter(pk=first.pk).update(finished_at=long_ago)
    before = queued_messages(private_broker)
    assert items_recover()["republished"] == 1
    assert queued_messages(private_broker) == before + 1
    second.refresh_from_db()
    assert second.enqueued_at > long_ago


def test_backend_registry_reuses_one_backend_per_model_and_reads_capabilities_without_loading(settings):
    import torch

    from generation.backends import backend_capabilities, clear_backends, get_backend
    from generation.backends.transformers_backend import choose_device, choose_dtype

    settings.CONCORD_BACKEND = "fake"
    clear_backends()
    assert get_backend() is get_backend() and get_backend("other") is not get_backend()
    clear_backends()
    assert backend_capabilities("transformers") == {"generate": True, "logprobs": True, "score": True}
    settings.CONCORD_OPENAI_SUPPORTS_SCORE = False
    assert backend_capabilities("openai")["score"] is False
    assert choose_device("cpu") == "cpu" and choose_dtype("cpu") == torch.float32
    assert choose_dtype("mps") == torch.float16
    settings.CONCORD_MODEL_PATH = "/nowhere/SmolLM2"
    with pytest.raises(Exception, match="model folder /nowhere/SmolLM2 not found: run `make model`"):
        get_backend(backend="transformers")

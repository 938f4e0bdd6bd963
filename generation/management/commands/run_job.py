"""Start a generation job from the command line (what the project page's form does)."""
import json
import time

from django.core.management.base import BaseCommand, CommandError

from curation.models import GenerationJob, Project
from generation.jobs import JobStartError, items_recover, job_start
from generation.methods import METHODS


def method_help() -> str:
    lines = []
    for method in METHODS.values():
        lines.append(f"{method.name}: {method.description}")
        lines += [f"  {p.name}={p.default_text}  {p.help}" for p in method.params]
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Start a generation job: split into items, each a Celery task on the `generation` "
        "queue (a worker must be running: `manage.py serve` or `celery -A config worker`). "
        "With --wait, block until the job ends and print a JSON summary (job id, state, items "
        "done and failed, rows created); the exit status is 1 when the job failed. "
        "Methods: " + ", ".join(METHODS) + ". See docs/generation.md for every parameter."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", help="project slug (required)")
        parser.add_argument("--method", choices=list(METHODS), help="generation method (required)")
        parser.add_argument(
            "--param", action="append", default=[], metavar="KEY=VALUE",
            help="a method parameter, repeatable (e.g. --param n=4 --param pairing=all); lists are comma-separated",
        )
        parser.add_argument("--wait", action="store_true", help="block until the job ends; print a JSON summary")
        parser.add_argument("--timeout", type=float, default=None, help="with --wait: give up after this many seconds (exit 1)")
        parser.add_argument("--list-params", action="store_true", help="print the methods' parameters and defaults, then exit")

    def handle(self, *args, project: str, method: str, param: list[str], wait: bool, timeout, list_params: bool, **options):
        if list_params:
            self.stdout.write(method_help())
            return
        if not project or not method:
            raise CommandError("--project and --method are required.", returncode=1)
        try:
            target = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"No project with slug {project!r}.", returncode=1)
        params = {}
        for pair in param:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise CommandError(f"--param {pair!r}: expected KEY=VALUE", returncode=1)
            params[key.strip()] = value
        try:
            job = job_start(project=target, method=method, params=params)
        except JobStartError as error:
            raise CommandError(f"The job did not start: {error}", returncode=1)
        self.stderr.write(f"Started {method} job {job.pk} with {job.n_items} items.")
        if not wait:
            self.stdout.write(json.dumps(summary(job)))
            return
        job = wait_for(job, timeout=timeout)
        self.stdout.write(json.dumps(summary(job)))
        if not job.is_finished:
            raise CommandError(f"Job {job.pk} did not end within {timeout:g} s (it goes on).", returncode=1)
        if job.state == GenerationJob.State.FAILED:
            raise CommandError(f"Job {job.pk} failed: {job.error}", returncode=1)


def summary(job: GenerationJob) -> dict:
    return {
        "job": job.pk,
        "method": job.method,
        "state": job.state,
        "items": job.n_items,
        "done": job.n_done,
        "failed": job.n_failed,
        "rows_created": job.rows_created,
        "error": job.error,
    }


def wait_for(job: GenerationJob, *, timeout: float | None, poll: float = 1.0) -> GenerationJob:
    """Poll until the job ends. The recovery sweep runs here too, so a job whose worker
    died is requeued even when no worker runs the periodic sweep."""
    deadline = time.monotonic() + timeout if timeout else None
    while True:
        job.refresh_from_db()
        if job.is_finished or (deadline and time.monotonic() > deadline):
            return job
        time.sleep(poll)
        items_recover(job_id=job.pk)

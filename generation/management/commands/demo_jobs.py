"""Queue the demo's first generation job once, so `make run` shows the loop within minutes."""
from django.core.management.base import BaseCommand

from curation.models import GenerationJob, Pair, Project
from generation.jobs import JobStartError, job_start

DEMO_SLUG = "demo"
# Small enough for a CPU: two short answers per prompt, paired.
DEMO_SAMPLE_PARAMS = {"n": 2, "max_new_tokens": 128, "pairing": "random", "k": 1}


class Command(BaseCommand):
    help = (
        "Start a `sample` job for the demo project (2 responses of ≤128 tokens per prompt, "
        "4 prompts per item, paired) if the demo has no pairs and no job yet. Idempotent; a broker that cannot be "
        "reached is reported, not fatal."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", default=DEMO_SLUG)

    def handle(self, *args, project: str, **options):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            self.stdout.write(f"No project {project!r}; run setup_demo first.")
            return
        if GenerationJob.objects.filter(project=target).exists() or Pair.objects.filter(project=target).exists():
            self.stdout.write("Demo jobs: the demo already has jobs or pairs; nothing queued.")
            return
        try:
            job = job_start(project=target, method="sample", params=DEMO_SAMPLE_PARAMS)
        except JobStartError as error:
            self.stderr.write(f"Demo jobs: the sample job did not start: {error}")
            return
        self.stdout.write(f"Demo jobs: queued sample job {job.pk} ({job.n_items} prompts); pairs appear as the worker goes.")
        # AI-judges issue: queue the demo's judge job here, after the sample job.

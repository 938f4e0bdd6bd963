"""Queue the demo's first jobs once, so `make run` shows the loop within minutes:
a sample job, then a small AI judge job on the pairs it writes."""
from django.core.management.base import BaseCommand

from curation.models import GenerationJob, Pair, Project
from generation.jobs import JobStartError, job_start, job_then

DEMO_SLUG = "demo"
# Small enough for a CPU: two short answers per prompt, paired.
DEMO_SAMPLE_PARAMS = {"n": 2, "max_new_tokens": 128, "pairing": "random", "k": 1}
# A few pairs judged by the pairwise checklist judge, with short rationales.
DEMO_JUDGE_PARAMS = {"judge": "pairwise-checklist", "limit": 4, "max_new_tokens": 96}


class Command(BaseCommand):
    help = (
        "Start a `sample` job for the demo project (2 responses of ≤128 tokens per prompt, "
        "4 prompts per item, paired) if the demo has no pairs and no job yet, and a `judge` job "
        "(pairwise-checklist, 4 pairs, ≤96 tokens per rationale) that starts when the sample job "
        "ends (at once if the demo already has pairs and no judge job). Idempotent; a broker that "
        "cannot be reached is reported, not fatal."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", default=DEMO_SLUG)

    def handle(self, *args, project: str, **options):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            self.stdout.write(f"No project {project!r}; run setup_demo first.")
            return
        jobs = GenerationJob.objects.filter(project=target)
        has_pairs = Pair.objects.filter(project=target).exists()
        if jobs.exists() or has_pairs:
            if has_pairs and not jobs.filter(method="judge").exists() and not _judge_pending(jobs):
                self._start_judge(target)
                return
            self.stdout.write("Demo jobs: the demo already has jobs or pairs; nothing queued.")
            return
        try:
            job = job_start(project=target, method="sample", params=DEMO_SAMPLE_PARAMS)
            job_then(job=job, method="judge", params=DEMO_JUDGE_PARAMS)
        except JobStartError as error:
            self.stderr.write(f"Demo jobs: the sample job did not start: {error}")
            return
        self.stdout.write(
            f"Demo jobs: queued sample job {job.pk} ({job.n_items} items); pairs appear as the worker goes, "
            f"then the pairwise-checklist judge judges {DEMO_JUDGE_PARAMS['limit']} of them."
        )

    def _start_judge(self, target: Project) -> None:
        try:
            job = job_start(project=target, method="judge", params=DEMO_JUDGE_PARAMS)
        except JobStartError as error:
            self.stderr.write(f"Demo jobs: the judge job did not start: {error}")
            return
        self.stdout.write(f"Demo jobs: queued judge job {job.pk} ({job.n_items} pairs, pairwise-checklist).")


def _judge_pending(jobs) -> bool:
    """A judge job is already promised as the follow-up of an unfinished job."""
    return any("then" in (params or {}) for params in jobs.exclude(state__in=("done", "failed", "cancelled"))
               .values_list("params", flat=True))

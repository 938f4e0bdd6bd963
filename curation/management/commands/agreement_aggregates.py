"""python manage.py agreement_aggregates --project SLUG [--rebuild | --check]"""
import json
import time

from django.core.management.base import BaseCommand, CommandError

from curation import agreement, agreement_counts
from curation.models import Project


def _differences(left, right, path: str = "") -> list[str]:
    """Where two reports differ, as paths (at most a few dozen)."""
    if isinstance(left, dict) and isinstance(right, dict):
        found = []
        for key in sorted(set(left) | set(right), key=str):
            if key not in left or key not in right:
                found.append(f"{path}/{key}: only in {'counts' if key in left else 'SQL'}")
            else:
                found += _differences(left[key], right[key], f"{path}/{key}")
        return found
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [d for i, (a, b) in enumerate(zip(left, right)) for d in _differences(a, b, f"{path}[{i}]")]
    return [] if left == right else [f"{path}: counts {json.dumps(left, default=str)} ≠ SQL {json.dumps(right, default=str)}"]


class Command(BaseCommand):
    help = (
        "The project's agreement counts (what the agreement report and the dashboard read): catch up the pairs "
        "changed by bulk writes (the default), --rebuild them from the judgments, or --check them: build the "
        "report from the counts and by SQL aggregation over the judgments, print any difference and exit 1 "
        "if there is one. See docs/curation.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--rebuild", action="store_true", help="drop the project's counts and count every pair again")
        what.add_argument(
            "--check", action="store_true", help="compare the report from the counts with the SQL reference; exit 1 on a difference"
        )

    def handle(self, *args, project, rebuild, check, **options):
        try:
            target = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"No project with slug {project!r}.")
        started = time.monotonic()
        if rebuild:
            n = agreement_counts.rebuild(target)
            self.stdout.write(f"Rebuilt the counts of {n:,} pairs in {time.monotonic() - started:.1f} s.")
            return
        if not check:
            n = agreement_counts.catch_up(project=target)
            self.stdout.write(f"Caught up {n:,} pairs in {time.monotonic() - started:.1f} s.")
            return
        counted = agreement.report(target, breakdowns=True)
        reference = agreement.from_sql(target, breakdowns=True)
        differences = _differences(counted, reference)
        if differences:
            for line in differences[:40]:
                self.stdout.write(line)
            self.stderr.write(f"The counts differ from the SQL reference in {len(differences)} place(s).")
            raise SystemExit(1)
        self.stdout.write(f"The counts equal the SQL reference ({time.monotonic() - started:.1f} s).")

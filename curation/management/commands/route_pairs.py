"""python manage.py route_pairs --project SLUG [--json]"""
import json
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError

from curation.models import Project
from curation.services import pairs_route


class Command(BaseCommand):
    help = (
        "Run a routing round: decide the auto-accepted (judge × category) strata from measured human–AI "
        "agreement, refresh the tiers they change, score every pair (methods.md §4.3) and set statuses: "
        "gold and silver pairs accepted (an audit sample of auto-accepted ones routed), unverified pairs "
        "that need human judgments routed up to the project's human budget. See docs/curation.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the summary as JSON")

    def handle(self, *args, project, as_json, **options):
        try:
            target = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"No project with slug {project!r}.")
        summary = pairs_route(project=target)
        self.stdout.write(json.dumps(asdict(summary), sort_keys=True) if as_json else summary.line())

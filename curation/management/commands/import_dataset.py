"""python manage.py import_dataset PATH --project SLUG [--format F] [--create-project] [--dry-run]"""
import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from curation.importers import FORMATS, RecordError, dataset_import
from curation.models import Project
from curation.services import pairs_route, project_create


class Command(BaseCommand):
    help = (
        "Import prompts, pairs and judgments from a file. The whole file is validated first; "
        "a bad record stops the import with the line and field named, exit status 1, and "
        "nothing written. Importing the same file twice adds nothing. Formats: auto (detected "
        f"from the first record), {', '.join(FORMATS)}. After an import a routing round scores the "
        "project's pairs and fills the annotation queue (skip it with --no-route)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="JSON, JSON Lines or CSV file (.gz is read as gzip)")
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--format", default="auto", choices=("auto", *FORMATS), dest="fmt")
        parser.add_argument(
            "--create-project", action="store_true", help="create the project if it does not exist"
        )
        parser.add_argument("--dry-run", action="store_true", help="validate and count, write nothing")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the summary as JSON")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--no-route", action="store_true", help="do not run a routing round after the import"
        )

    def handle(self, *args, path, project, fmt, create_project, dry_run, as_json, no_progress, no_route, **options):
        try:
            target = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            if not create_project:
                raise CommandError(f"No project with slug {project!r} (pass --create-project to create it).")
            if dry_run:
                raise CommandError("--dry-run with --create-project: the project does not exist yet.")
            target = project_create(name=project, slug=project)
            self.stderr.write(f"Created project {project!r}.")
        bars: dict[str, tqdm] = {}
        show = not no_progress and options.get("verbosity", 1) > 0

        def progress(phase: str, done: int, total: int) -> None:
            if not show:
                return
            bar = bars.get(phase)
            if bar is None:
                bar = bars[phase] = tqdm(
                    total=total, desc=phase, unit="B", unit_scale=True, file=self.stderr._out, leave=False
                )
            bar.update(done - bar.n)

        try:
            summary = dataset_import(path=path, project=target, fmt=fmt, dry_run=dry_run, progress=progress)
        except RecordError as error:
            raise CommandError(f"Nothing was imported: {error}", returncode=1)
        finally:
            for bar in bars.values():
                bar.close()
        if as_json:
            self.stdout.write(json.dumps(summary.as_dict(), sort_keys=True))
        else:
            self.stdout.write(summary.line())
        if not dry_run and not no_route:
            # After the import's transaction: the import stands even if routing fails.
            self.stderr.write(pairs_route(project=target).line())

"""python manage.py export_dataset --project SLUG --format F --output PATH [filters]"""
import argparse
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from curation.exports import FORMATS, MARGINS, TIERS, ExportError, ExportOptions, export_write
from curation.models import Project


class Command(BaseCommand):
    help = (
        "Export a project's pairs for training, with a dataset card (README.md) beside the data. "
        "By default: silver tier or better, ties and flagged pairs (likely_mislabeled, ambiguous) excluded, "
        "pairs with an empty or identical side excluded; the concord format exports the whole project "
        "(every pair, judgment, adjudication, score and rubric, and prompts without pairs) so that "
        "re-importing it loses nothing. Labels: adjudication > human consensus > silver AI consensus, named "
        "in label_source. Rows stream in batches, so memory stays flat. Field names: docs/export.md."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
        return parser

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--format", default="trl", choices=FORMATS, dest="fmt", help="output format")
        parser.add_argument(
            "--output", required=True, type=Path,
            help="data file path; with --test-fraction the files are <stem>.train.<ext> and <stem>.test.<ext> "
                 "(ultrafeedback: train_prefs / test_prefs); README.md is written in the same folder",
        )
        parser.add_argument("--parquet", action="store_true", help="write Parquet instead of JSON Lines / CSV")
        which = parser.add_argument_group("which pairs")
        which.add_argument("--min-tier", choices=TIERS, help="lowest tier taken (default silver; concord: unverified)")
        which.add_argument("--keep-ties", action="store_true", default=None, help="keep pairs whose label is a tie")
        which.add_argument("--keep-flagged", action="store_true", default=None,
                           help="keep pairs flagged likely_mislabeled or ambiguous")
        which.add_argument("--min-agreement", type=float, metavar="FRACTION",
                           help="minimum share of a pair's sources (human records, AI judges) agreeing with its "
                                "label; 0.75 is advised for reward models")
        which.add_argument("--min-strength", type=float, metavar="S",
                           help="minimum human consensus strength |mean s| (0..2); pairs without consensus are left out")
        which.add_argument("--judge", action="append", default=[], dest="judges", metavar="NAME",
                           help="only pairs judged by this judge config (repeatable)")
        which.add_argument("--annotator", action="append", default=[], dest="annotators", metavar="NAME",
                           help="only pairs judged by this annotator (repeatable)")
        which.add_argument("--origin", action="append", default=[], dest="origins", metavar="ORIGIN",
                           help="only pairs of this origin: an import format or generation method (repeatable)")
        which.add_argument("--since", metavar="YYYY-MM-DD", help="pairs created on or after this date")
        which.add_argument("--until", metavar="YYYY-MM-DD", help="pairs created on or before this date")
        split = parser.add_argument_group("train/test split (by prompt: no prompt on both sides)")
        split.add_argument("--test-fraction", type=float, default=0.0, help="share of prompts in test; 0 = no split")
        split.add_argument("--seed", type=int, default=0, help="seed of the split")
        shape = parser.add_argument_group("shape of the rows")
        shape.add_argument("--strict", action="store_true",
                           help="only the format's own columns; pair_id, label_source, tier and agreement go to a "
                                "<stem>.meta.jsonl sidecar (always so for openai)")
        shape.add_argument("--margin", nargs="?", const="abs_s", choices=MARGINS,
                           help="trl: add a margin column (abs_s = |s|, consensus_strength, ensemble_mu)")
        shape.add_argument("--conversational", action="store_true",
                           help="trl: prompt, chosen and rejected as message lists (needed for multi-turn prompts)")
        shape.add_argument("--implicit-prompt", action="store_true",
                           help="trl: only chosen and rejected, each the whole conversation (reward models)")
        shape.add_argument("--with-rationale", action="store_true",
                           help="trl: add the best rationale for the label (human > adjudication note > AI)")
        shape.add_argument("--synthetic-scores", action="store_true",
                           help="ultrafeedback: pairs without aspect ratings get scores |s| and 0 instead of being skipped")
        shape.add_argument("--include-ai-justifications", action="store_true",
                           help="helpsteer2: add AI rationales, tagged as AI, to all_preferences_unprocessed")
        shape.add_argument("--long", action="store_true", help="csv: one row per human judgment, with its annotator")
        parser.add_argument("--batch-size", type=int, default=2000, help="pairs per batch read from the database")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, project, fmt, output, no_progress, batch_size, **opts):
        try:
            target = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"No project with slug {project!r}.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        keys = ("parquet", "min_tier", "keep_ties", "keep_flagged", "min_agreement", "min_strength", "judges",
                "annotators", "origins", "since", "until", "test_fraction", "seed", "strict", "margin",
                "conversational", "implicit_prompt", "with_rationale", "synthetic_scores",
                "include_ai_justifications", "long")
        try:
            options = ExportOptions.from_dict({"format": fmt, **{key: opts[key] for key in keys}})
        except ExportError as error:
            raise CommandError(f"Nothing was exported: {error.field}: {error.message}")
        show = not no_progress and opts.get("verbosity", 1) > 0
        bar = tqdm(unit="pairs", unit_scale=True, file=self.stderr._out, leave=False, disable=not show)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            result = export_write(project=target, options=options, output=output, progress=progress,
                                  batch_size=batch_size)
        except ExportError as error:
            raise CommandError(f"Nothing was exported: {error.message}", returncode=1)
        finally:
            bar.close()
        self.stdout.write(result.line())

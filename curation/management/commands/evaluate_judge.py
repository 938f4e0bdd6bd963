"""python manage.py evaluate_judge --project SLUG --judge NAME [--json]"""
import json

from django.core.management.base import BaseCommand, CommandError

from curation.judge_stats import evaluation
from curation.models import JudgeConfig, Project


def _share(value) -> str:
    return "—" if value is None else f"{value:.3f}"


class Command(BaseCommand):
    help = (
        "Evaluate one AI judge of a project against its gold pairs (pairs with a decisive known "
        "answer: an imported expert label such as LLMBar's, or a reviewer's decision). Prints n "
        "(parsed judgments on those pairs), accuracy (share whose A/tie/B verdict has the gold "
        "sign; a tie counts as wrong), position consistency, tie rate and parse failures (unparsed "
        "judgments, left out of the other figures). --json prints one object with the keys n, "
        "accuracy, position_consistency, tie_rate and parse_failures, plus the judge's settings, "
        "calibration (ece), length figures and its figures over all its judgments. See docs/judges.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--judge", required=True, help="JudgeConfig name, e.g. pairwise-checklist")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print one JSON object")

    def handle(self, *args, project, judge, as_json, **options):
        try:
            target = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"No project with slug {project!r}.")
        try:
            config = JudgeConfig.objects.get(project=target, name=judge)
        except JudgeConfig.DoesNotExist:
            names = ", ".join(JudgeConfig.objects.filter(project=target).values_list("name", flat=True)) or "none"
            raise CommandError(f"No judge {judge!r} in project {project!r}; its judges: {names}.")
        result = evaluation(target, config)
        if as_json:
            self.stdout.write(json.dumps(result, indent=2))
            return
        self.stdout.write(self._text(result))

    def _text(self, result: dict) -> str:
        overall = result["all_judgments"]
        lines = [
            f"Judge {result['judge']} in {result['project']} ({result['method']}, model {result['model'] or '—'}, "
            f"template v{result['template_version'] or '—'})",
            f"  gold pairs judged (parsed)  n = {result['n']:,}",
            f"  accuracy against gold       {_share(result['accuracy'])}"
            + (f"  ({result['n_correct']:,} of {result['n']:,})" if result["n"] else ""),
            f"  position consistency        {_share(result['position_consistency'])}"
            f"  (of {result['n_position_known']:,} with both orders parsed)",
            f"  tie rate                    {_share(result['tie_rate'])}",
            f"  parse failures              {result['parse_failures']:,}",
            f"  length-rule rate            {_share(result['length_rule_rate'])}",
            f"  calibration (ECE)           {_share(result['ece'])}",
            f"  all its judgments: {overall['n_judgments']:,} ({overall['parse_failures']:,} unparsed)",
        ]
        if not result["n"]:
            lines.append("  no parsed judgment on a gold pair with a decisive label: accuracy is undefined")
        return "\n".join(lines)

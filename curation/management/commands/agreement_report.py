"""python manage.py agreement_report --project SLUG [--json] [--breakdowns] [--no-intervals]"""
import json

from django.core.management.base import BaseCommand, CommandError

from curation.agreement import report
from curation.models import Project


def _figure(value, interval=None) -> str:
    if value is None:
        return "—"
    text = f"{value:.3f}"
    return f"{text} [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else text


class Command(BaseCommand):
    help = (
        "Print the project's agreement report: human–human (Krippendorff's α nominal/ordinal/interval, "
        "Fleiss' κ when every pair has the same number of human judgments, percent agreement), human–AI "
        "per AI judge (Cohen's κ, weighted κ, α ordinal, percent agreement, accuracy on gold), annotators "
        "against the rest and on gold pairs, position and length bias. 95% bootstrap intervals over pairs. "
        "Figures come from the counts kept as judgments change (manage.py agreement_aggregates). See docs/curation.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the report as one JSON object")
        parser.add_argument(
            "--breakdowns", action="store_true", help="add per category, template version, aspect and week"
        )
        parser.add_argument("--no-intervals", action="store_true", help="skip the bootstrap intervals")

    def handle(self, *args, project, as_json, breakdowns, no_intervals, **options):
        try:
            target = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"No project with slug {project!r}.")
        result = report(target, intervals=not no_intervals, breakdowns=breakdowns)
        if as_json:
            self.stdout.write(json.dumps(result, indent=2))
            return
        self.stdout.write(self._text(result))

    def _text(self, result: dict) -> str:
        hh = result["human_human"]
        intervals = hh.get("intervals", {})
        alpha = hh["krippendorff_alpha"]
        lines = [
            f"Project {result['project']}: {result['n_pairs']:,} pairs, {result['n_human_judgments']:,} human judgments",
            "",
            f"Human–human ({hh['n_units']:,} pairs with ≥ 2 human judgments, {hh['scale'] or 'no'} scale)",
            *(
                f"  Krippendorff's α {level:<9} {_figure(alpha[level], intervals.get(f'krippendorff_alpha_{level}'))}"
                for level in ("nominal", "ordinal", "interval")
            ),
            f"  Fleiss' κ               {_figure(hh['fleiss_kappa'], intervals.get('fleiss_kappa'))}",
            f"  percent agreement 3-way {_figure(hh['percent_agreement'], intervals.get('percent_agreement'))}",
            "",
            "Human–AI (first human records against each AI judge)",
        ]
        if not result["human_ai"]:
            lines.append("  no AI judgments yet")
        for entry in result["human_ai"]:
            ci = entry.get("intervals", {})
            gold = entry.get("against_gold") or {}
            lines += [
                f"  {entry['judge']} (n = {entry['n']:,}, {entry.get('n_unparsed', 0):,} unparsed)",
                f"    Cohen's κ {_figure(entry['cohen_kappa'], ci.get('cohen_kappa'))}",
                f"    weighted κ quadratic {_figure(entry['weighted_kappa_quadratic'], ci.get('weighted_kappa_quadratic'))}",
                f"    α ordinal {_figure(entry['krippendorff_alpha_ordinal'])}   "
                f"percent agreement {_figure(entry['percent_agreement'], ci.get('percent_agreement'))}",
                f"    position consistency {_figure(entry.get('position_consistency'))}   "
                f"longer wins {_figure(entry.get('longer_wins'))}   accuracy on gold {_figure(gold.get('accuracy'))}",
            ]
        lines += ["", "Annotators (against the rest; on gold pairs)"]
        for entry in result["annotators"]:
            rest = entry["vs_rest"]
            lines.append(
                f"  {entry['annotator']}: {entry['n']:,} judgments, κ vs rest {_figure(rest['cohen_kappa'])}, "
                f"gold accuracy {_figure(entry['gold_accuracy'])} on {entry['n_gold']:,}"
            )
        return "\n".join(lines)

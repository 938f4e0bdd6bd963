"""Figures per JudgeConfig for the judges page and ``evaluate_judge`` (methods.md §3).

Every figure is a count in one ``GROUP BY`` over the project's JudgeConfigs (a left
join, so a judge with no judgment yet still has a row), computed twice in the same
query: over all the judge's judgments and over the evaluation set, the gold pairs
with a decisive known answer (``Pair.gold_verdict`` ≠ 0, set by an imported expert
label or a reviewer's decision). Agreement with humans comes from
``curation.agreement`` (its confusion matrices and ``confusion_figures``), so the
metric code lives in one place. The number of queries does not depend on the number
of judges or judgments.

Definitions:
- accuracy: over parsed judgments on gold pairs with a non-tie label, the share whose
  3-way verdict equals the gold sign; an AI tie is wrong; unparsed judgments are left
  out and counted as parse failures;
- position consistency: among judgments whose both orders parsed
  (``position_consistent`` not null), the share that agree in sign;
- tie rate: the share of parsed verdicts that are 0;
- length-rule rate: the share of parsed verdicts changed by the length rule;
- longer wins: among decisive verdicts on pairs of unequal length, the share for the
  longer response;
- calibration: ECE over 10 equal-width confidence bins, correctness from gold.
"""
from __future__ import annotations

from django.db.models import Count, F, Q

from . import agreement, agreement_counts
from .models import JudgeConfig, Judgment, Project

SMALL_N = agreement.SMALL_CELL  # figures over fewer judgments are shown greyed


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _counts(prefix: str, scope: Q) -> dict:
    """Conditional counts of one scope of a judge's judgments (reached as ``judgments``)."""
    parsed = Q(judgments__parse_ok=True, judgments__verdict__isnull=False)
    unequal = ~Q(judgments__pair__response_a__n_chars=F("judgments__pair__response_b__n_chars"))
    decisive = parsed & ~Q(judgments__verdict=0)
    longer = (
        Q(judgments__verdict__lt=0) & Q(judgments__pair__response_a__n_chars__gt=F("judgments__pair__response_b__n_chars"))
    ) | (Q(judgments__verdict__gt=0) & Q(judgments__pair__response_b__n_chars__gt=F("judgments__pair__response_a__n_chars")))
    conditions = {
        "n_judgments": Q(judgments__id__isnull=False),
        "n_parsed": parsed,
        "parse_failures": Q(judgments__parse_ok=False),
        "n_ties": parsed & Q(judgments__verdict=0),
        "n_position_known": Q(judgments__position_consistent__isnull=False),
        "n_consistent": Q(judgments__position_consistent=True),
        "n_length_rule": parsed & Q(judgments__length_rule_applied=True),
        "n_decisive_unequal": decisive & unequal,
        "n_longer_wins": decisive & unequal & longer,
        # A tie never has the sign of a decisive gold label: an AI tie counts as wrong.
        "n_correct": parsed
        & (
            (Q(judgments__verdict__lt=0) & Q(judgments__pair__gold_verdict__lt=0))
            | (Q(judgments__verdict__gt=0) & Q(judgments__pair__gold_verdict__gt=0))
        ),
    }
    return {f"{prefix}{name}": Count("judgments", filter=scope & condition) for name, condition in conditions.items()}


GOLD = Q(judgments__pair__gold_verdict__isnull=False) & ~Q(judgments__pair__gold_verdict=0)


def _figures(row: dict, prefix: str) -> dict:
    """Shares from one scope's counts."""
    count = {name[len(prefix):]: value for name, value in row.items() if name.startswith(prefix)}
    parsed = count["n_parsed"]
    figures = {
        "n_judgments": count["n_judgments"],
        "n_parsed": parsed,
        "parse_failures": count["parse_failures"],
        "n_ties": count["n_ties"],
        "tie_rate": _share(count["n_ties"], parsed),
        "n_position_known": count["n_position_known"],
        "position_consistency": _share(count["n_consistent"], count["n_position_known"]),
        "length_rule_rate": _share(count["n_length_rule"], parsed),
        "n_decisive_unequal": count["n_decisive_unequal"],
        "longer_wins": _share(count["n_longer_wins"], count["n_decisive_unequal"]),
    }
    if prefix == "gold_":  # correctness needs a known answer
        figures.update(n_correct=count["n_correct"], accuracy=_share(count["n_correct"], parsed))
    return figures


def _calibration(project: Project) -> dict[int, float]:
    """ECE per judge on gold pairs: Σ_b n_b·|acc_b − conf_b| / N, one GROUP BY."""
    return agreement.ece(agreement.ece_bins(Judgment.objects.filter(project=project, judge_config__isnull=False)))


def _with_humans(source) -> dict[int, dict]:
    """Cohen's κ and 3-way percent agreement of each AI judge against first human
    records, from ``agreement``'s confusion matrices."""
    result = {}
    for (judge_id, _), cell in source.human_ai_confusions().items():
        figures = agreement.confusion_figures(cell["matrix"], intervals=False)
        result[judge_id] = {
            "n": figures["n"],
            "cohen_kappa": figures["cohen_kappa"],
            "percent_agreement": figures["percent_agreement"],
            "small": figures["n"] < SMALL_N,
        }
    return result


CONFIG_FIELDS = ("id", "name", "kind", "method", "backend", "model", "template_version", "params", "is_active")
SQL = "sql"  # ``source`` of the reference path: every figure aggregated from the judgments


def _rows_from_counts(configs, counts: agreement_counts.CountSource) -> list[dict]:
    """The rows of the SQL path's GROUP BY, from the maintained counts."""
    scopes = {"all_": counts.judge_counts("all"), "gold_": counts.judge_counts("gold")}
    names = {"n_unparsed": "parse_failures"}
    wanted = [name for name in agreement_counts.JUDGE_STATS if name != "n_length_rule_any"]
    rows = []
    for config in configs.values(*CONFIG_FIELDS).order_by("name"):
        for prefix, stats in scopes.items():
            found = stats.get(config["id"], {})
            for name in wanted:
                config[f"{prefix}{names.get(name, name)}"] = found.get(name, 0)
        rows.append(config)
    return rows


def judge_stats(project: Project, *, judge: JudgeConfig | None = None, source=None) -> list[dict]:
    """One entry per JudgeConfig of the project (or only ``judge``), by name: its
    settings, figures over all its judgments (``all``), over gold pairs with a decisive
    label (``gold``, with ``ece``) and against humans (``humans``, AI judges only).
    From the maintained counts, or aggregated by SQL with ``source=SQL``."""
    configs = JudgeConfig.objects.filter(project=project)
    if judge is not None:
        configs = configs.filter(pk=judge.pk)
    with agreement.aggregate_session():
        if source == SQL:
            rows = list(
                configs.values(*CONFIG_FIELDS)
                .annotate(**_counts("all_", Q()), **_counts("gold_", GOLD))
                .order_by("name")
            )
            calibration = _calibration(project)
            humans = _with_humans(agreement.SqlSource(project))
        else:
            counts = agreement.counts(project)
            rows = _rows_from_counts(configs, counts)
            calibration = agreement.ece(counts.calibration_bins())
            humans = _with_humans(counts)
    entries = []
    for row in rows:
        judge_id = row["id"]
        overall, gold = _figures(row, "all_"), _figures(row, "gold_")
        gold["ece"] = calibration.get(judge_id)
        entries.append(
            {
                "judge_id": judge_id,
                "name": row["name"],
                "kind": row["kind"],
                "method": row["method"],
                "method_label": JudgeConfig.Method(row["method"]).label if row["method"] in JudgeConfig.Method.values else row["method"],
                "backend": row["backend"],
                "model": row["model"],
                "template_version": row["template_version"],
                "params": row["params"],
                "is_active": row["is_active"],
                "all": overall,
                "gold": gold,
                "humans": humans.get(judge_id) if row["kind"] == JudgeConfig.Kind.AI else None,
                "small": overall["n_judgments"] < SMALL_N,
            }
        )
    return entries


def evaluation(project: Project, judge: JudgeConfig) -> dict:
    """What ``evaluate_judge`` reports: figures over the evaluation set (gold pairs with
    a decisive label), with the judge's overall figures beside them."""
    (entry,) = judge_stats(project, judge=judge)
    gold, overall = entry["gold"], entry["all"]
    return {
        "project": project.slug,
        "judge": judge.name,
        "method": judge.method,
        "model": judge.model,
        "template_version": judge.template_version,
        "n": gold["n_parsed"],
        "accuracy": gold["accuracy"],
        "position_consistency": gold["position_consistency"],
        "tie_rate": gold["tie_rate"],
        "parse_failures": gold["parse_failures"],
        "n_correct": gold["n_correct"],
        "n_position_known": gold["n_position_known"],
        "length_rule_rate": gold["length_rule_rate"],
        "longer_wins": gold["longer_wins"],
        "ece": gold["ece"],
        "all_judgments": overall,
        "humans": entry["humans"],
    }

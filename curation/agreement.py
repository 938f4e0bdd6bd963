"""Agreement reports (methods.md §3): count matrices built by SQL aggregation, turned
into figures by the pure functions of ``curation.metrics``.

No query here loads judgments as objects: every count is a ``GROUP BY`` in the
database, and Python sees at most a few hundred aggregate rows, so a report over a
million judgments stays interactive.

Which records count:
- human records: first, unrevised human judgments with a verdict; for human–AI
  comparisons ``assisted``-mode records are left out (they are anchored on the AI);
- AI records: judgments of JudgeConfigs of kind ``ai`` (construction intents and
  imported source labels never count) whose output parsed; unparsed ones are counted
  and reported as ``n_unparsed``;
- scale: the 5-level verdict s, except where one side of a comparison (or any record
  of a human–human unit) lacks strength: then both use the 3-way sign.
"""
from collections import defaultdict
from collections.abc import Iterable
from contextlib import contextmanager

import numpy as np
from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Floor, Least, Sign, TruncWeek

from . import agreement_counts, metrics
from .models import Annotator, JudgeConfig, Judgment, Pair, Project

N_VALUES = len(metrics.VALUES)
SMALL_CELL = 30  # breakdown cells with fewer items are shown greyed


@contextmanager
def aggregate_session():
    """Run the enclosed aggregate queries with settings suited to them.

    On PostgreSQL, JIT compilation costs 0.4–1.5 s per query here while the queries
    themselves take a fraction of that, and the default 4 MB of ``work_mem`` makes
    grouping spill to disk; both are set for this transaction only (``SET LOCAL``).
    Elsewhere this is a plain transaction.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
                cursor.execute("SET LOCAL work_mem = '64MB'")
        yield


def _index(value: int) -> int:
    return int(value) + 2


def _week_key(value) -> str:
    """TruncWeek comes back as a datetime (ORM) or a string (raw SQL on SQLite)."""
    return value.date().isoformat() if hasattr(value, "date") else str(value)[:10]


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _interval(interval: tuple[float, float] | None) -> list[float] | None:
    return [round(interval[0], 4), round(interval[1], 4)] if interval else None


# --- the records that count -------------------------------------------------------------


def human_records(project: Project, *, include_assisted: bool = True) -> QuerySet[Judgment]:
    """First, unrevised human judgments with a verdict."""
    records = Judgment.objects.filter(project=project, is_human=True, is_revision=False, verdict__isnull=False)
    if not include_assisted:
        records = records.exclude(mode=Judgment.Mode.ASSISTED)
    return records


def ai_records(project: Project) -> QuerySet[Judgment]:
    """Judgments of real AI judges (kind ``ai``), parsed or not."""
    return Judgment.objects.filter(project=project, is_human=False, judge_config__kind=JudgeConfig.Kind.AI)


def _value(field: str, both_strength: Q) -> Case:
    return Case(When(both_strength, then=F(field)), default=Sign(field), output_field=IntegerField())


def human_ai_items(project: Project, *, include_assisted: bool = False) -> QuerySet[Judgment]:
    """Each first human record joined with every parsed AI judgment on its pair,
    annotated with ``judge``, ``h`` and ``a`` (values on the comparison's scale: the
    3-way sign when the AI judgment or any human record on the pair lacks strength).
    For filters (the pairs behind a figure); the figures aggregate per pair instead."""
    three_way_humans = human_records(project, include_assisted=include_assisted).filter(
        pair=OuterRef("pair"), strength_known=False
    )
    both = Q(pair__judgments__strength_known=True) & Q(three_way_pair=False)
    return (
        human_records(project, include_assisted=include_assisted)
        .filter(
            pair__judgments__judge_config__kind=JudgeConfig.Kind.AI,
            pair__judgments__parse_ok=True,
            pair__judgments__verdict__isnull=False,
        )
        .annotate(three_way_pair=Exists(three_way_humans))
        .annotate(
            judge=F("pair__judgments__judge_config_id"),
            h=_value("verdict", both),
            a=_value("pair__judgments__verdict", both),
        )
    )


def gold_pair() -> Q:
    """The record's pair has a decisive known answer."""
    return Q(pair__gold_verdict__isnull=False) & ~Q(pair__gold_verdict=0)


def agrees_with_gold(field: str = "verdict") -> Q:
    """The record's verdict has the sign of its pair's known answer (a tie never does)."""
    return (Q(**{f"{field}__lt": 0}) & Q(pair__gold_verdict__lt=0)) | (
        Q(**{f"{field}__gt": 0}) & Q(pair__gold_verdict__gt=0)
    )


def chose_longer(field: str = "verdict") -> Q:
    """A decisive verdict for the response with more characters."""
    return (Q(**{f"{field}__lt": 0}) & Q(pair__response_a__n_chars__gt=F("pair__response_b__n_chars"))) | (
        Q(**{f"{field}__gt": 0}) & Q(pair__response_b__n_chars__gt=F("pair__response_a__n_chars"))
    )


def _pooled_agreement(
    profiles: np.ndarray, multiplicities: np.ndarray, transform=metrics.three_way
) -> tuple[float | None, float]:
    """Pooled pairwise agreement of unit types, and the number of rater pairs."""
    agreeing = pairs = 0.0
    for profile, weight in zip(profiles, multiplicities):
        a, p = metrics.pairwise_agreement(transform(profile))
        agreeing, pairs = agreeing + weight * a, pairs + weight * p
    return (agreeing / pairs if pairs else None), pairs


def _longer_side() -> Case:
    """-1 when A is longer, 1 when B is longer, 0 for equal lengths."""
    return Case(
        When(pair__response_a__n_chars__gt=F("pair__response_b__n_chars"), then=Value(-1)),
        When(pair__response_a__n_chars__lt=F("pair__response_b__n_chars"), then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )


# --- matrices -----------------------------------------------------------------------------


def _regroup(inner: QuerySet, columns: list[str]) -> list[tuple]:
    """GROUP BY over the rows of an aggregate query (units → unit types), in SQL."""
    sql, params = inner.query.sql_with_params()
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {names}, COUNT(*) FROM ({sql}) units GROUP BY {names}", params)
        return cursor.fetchall()


VALUE_COLUMNS = [f"c{i}" for i in range(N_VALUES)]


def human_pair_counts(project: Project, *, include_assisted: bool = True, key=None) -> QuerySet:
    """Per pair, in one GROUP BY: how many first human records gave each value
    (columns c0..c4 for s = −2..2), ``m`` records in all, ``three`` = 1 when any of
    them lacks strength (then the whole pair is compared on the 3-way sign), and an
    optional group ``key`` (a category, a week, which side is longer)."""
    counts = {
        column: Count("id", filter=Q(verdict=value)) for column, value in zip(VALUE_COLUMNS, metrics.VALUES)
    }
    return (
        human_records(project, include_assisted=include_assisted)
        .values("pair_id")
        .annotate(
            **({"key": key} if key is not None else {}),
            m=Count("id"),
            three=Max(Case(When(strength_known=False, then=Value(1)), default=Value(0), output_field=IntegerField())),
            **counts,
        )
    )


GROUP_KEYS = {
    "category": lambda: F("pair__prompt__category"),
    "week": lambda: TruncWeek(Max("created_at")),  # the week of the pair's last human record
    "longer": lambda: _longer_side(),
}


def _group_key(by: str | None, value):
    return _week_key(value) if by == "week" else value


def human_unit_types(project: Project, *, by: str | None = None) -> dict:
    """Human–human units (pairs with ≥ 2 first human records) as unit types: for each
    group key, an array of per-unit value counts (one row per distinct profile) and
    how many units share it. ``by``: None, ``category`` or ``week``."""
    key = GROUP_KEYS[by]() if by else None
    inner = human_pair_counts(project, key=key).filter(m__gte=2)
    rows = _regroup(inner, (["key"] if by else []) + ["three"] + VALUE_COLUMNS)
    grouped: dict = defaultdict(list)
    for row in rows:
        group = _group_key(by, row[0]) if by else None
        three, *profile, n = row[1:] if by else row
        grouped[group].append((bool(three), [int(c) for c in profile], n))
    return {group: agreement_counts.unit_types(units) for group, units in grouped.items()}


def _ai_join(inner: QuerySet, select: str) -> tuple[str, list]:
    """SQL joining per-pair human counts (``inner``, alias h) with every parsed verdict
    of an AI judge on the same pair (alias a): one row per pair and judge, not one per
    human record, before any grouping."""
    sql, params = inner.query.sql_with_params()
    judgment = connection.ops.quote_name(Judgment._meta.db_table)
    config = connection.ops.quote_name(JudgeConfig._meta.db_table)
    query = (
        f"SELECT {select} FROM ({sql}) h "
        f"JOIN {judgment} a ON a.pair_id = h.pair_id "
        f"JOIN {config} jc ON jc.id = a.judge_config_id "
        f"WHERE jc.kind = %s AND a.parse_ok AND a.verdict IS NOT NULL"
    )
    return query, [*params, JudgeConfig.Kind.AI]


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def human_ai_confusions(project: Project, *, by: str | None = None) -> dict:
    """Human (rows) × AI (columns) count matrices on VALUES, per judge and group key
    (``by``: None, ``category``, ``week``, or ``longer`` for the length-bias split).

    Returns {(judge_id, key): {"matrix": 5×5, "five_level": n, "lengths": 3×5×5}};
    with ``by = "longer"`` the key is None and ``lengths[side + 1]`` splits the matrix by
    which response is longer (side −1 = A, 0 = equal, 1 = B). Items are first human
    records (not assisted) against each AI judge's verdict on the same pair.
    """
    key = GROUP_KEYS[by]() if by else None
    inner = human_pair_counts(project, include_assisted=False, key=key)
    sums = ", ".join(f"SUM(h.{column})" for column in VALUE_COLUMNS)
    columns = "a.judge_config_id, a.verdict, a.strength_known, h.three" + (", h.key" if by else "")
    sql, params = _ai_join(inner, f"{columns}, {sums}")
    result: dict = defaultdict(
        lambda: {"matrix": np.zeros((N_VALUES, N_VALUES)), "five_level": 0, "lengths": np.zeros((3, N_VALUES, N_VALUES))}
    )
    for row in _fetch(f"{sql} GROUP BY {columns}", params):
        judge_id, ai_verdict, ai_strength, three = row[:4]
        group = row[4] if by else None
        humans = np.asarray(row[5:] if by else row[4:], dtype=float)
        five_level = bool(ai_strength) and not three
        if five_level:
            column = _index(ai_verdict)
        else:
            humans, column = metrics.three_way(humans), _index((ai_verdict > 0) - (ai_verdict < 0))
        cell = result[(judge_id, _group_key(by, group) if by in ("category", "week") else None)]
        cell["matrix"][:, column] += humans
        cell["five_level"] += int(humans.sum()) if five_level else 0
        if by == "longer":
            cell["lengths"][group + 1, :, column] += humans
    return dict(result)


def aspect_confusions(project: Project) -> dict:
    """Per aspect and judge, human × AI matrices of per-aspect verdicts (−2..2)."""
    result: dict = {}
    with_aspects = Judgment.objects.filter(project=project).exclude(aspects={})
    if not (with_aspects.filter(is_human=True).exists() and with_aspects.filter(is_human=False).exists()):
        return result  # nobody scored aspects: spare one join per aspect
    for aspect in project.aspects or []:
        human_field, ai_field = f"aspects__{aspect}", f"pair__judgments__aspects__{aspect}"
        rows = (
            human_ai_items(project)
            .annotate(ha=Cast(F(human_field), IntegerField()), aa=Cast(F(ai_field), IntegerField()))
            .filter(ha__isnull=False, aa__isnull=False, ha__gte=-2, ha__lte=2, aa__gte=-2, aa__lte=2)
            .values("judge", "ha", "aa")
            .annotate(n=Count("*"))
            .order_by()
        )
        for row in rows:
            matrix = result.setdefault((aspect, row["judge"]), np.zeros((N_VALUES, N_VALUES)))
            matrix[_index(row["ha"]), _index(row["aa"])] += row["n"]
    return result


def annotator_confusions(project: Project) -> dict[int, np.ndarray]:
    """Each annotator (rows) against every other annotator's record on the same pairs:
    per-pair counts joined back to each record, minus the record itself."""
    inner = human_pair_counts(project)
    sql, params = inner.query.sql_with_params()
    judgment = connection.ops.quote_name(Judgment._meta.db_table)
    sums = ", ".join(f"SUM(h.{column})" for column in VALUE_COLUMNS)
    query = (
        f"SELECT j.annotator_id, j.verdict, h.three, COUNT(*), {sums} FROM ({sql}) h "
        f"JOIN {judgment} j ON j.pair_id = h.pair_id "
        f"WHERE j.project_id = %s AND j.is_human AND NOT j.is_revision AND j.verdict IS NOT NULL "
        f"GROUP BY j.annotator_id, j.verdict, h.three"
    )
    rows = _fetch(query, [*params, project.id])
    result: dict[int, np.ndarray] = defaultdict(lambda: np.zeros((N_VALUES, N_VALUES)))
    for annotator_id, verdict, three, n, *counts in rows:
        others = np.asarray(counts, dtype=float)
        others[_index(verdict)] -= n  # the record itself
        row = _index(verdict)
        if three:
            others, row = metrics.three_way(others), _index((verdict > 0) - (verdict < 0))
        result[annotator_id][row] += others
    return dict(result)


# --- figures from matrices --------------------------------------------------------------------


def confusion_figures(matrix: np.ndarray, *, intervals: bool = True) -> dict:
    """κ, weighted κ, α and percent agreement of one two-rater confusion matrix."""
    n = int(matrix.sum())
    three = metrics.three_way_confusion(matrix)
    no_ties = metrics.no_ties_confusion(matrix)
    coincidence = metrics.symmetric_coincidence(matrix)
    figures = {
        "n": n,
        "cohen_kappa": _round(metrics.cohen_kappa(matrix)),
        "weighted_kappa_linear": _round(metrics.weighted_kappa(matrix, weighting="linear")),
        "weighted_kappa_quadratic": _round(metrics.weighted_kappa(matrix, weighting="quadratic")),
        "krippendorff_alpha_ordinal": _round(metrics.krippendorff_alpha(coincidence, level="ordinal")),
        "percent_agreement": _round(metrics.percent_agreement(three)),
        "percent_agreement_exact": _round(metrics.percent_agreement(matrix)),
        "percent_agreement_no_ties": _round(metrics.percent_agreement(no_ties)),
        "n_no_ties": int(no_ties.sum()),
    }
    if intervals and n >= 2:
        figures["intervals"] = {
            "cohen_kappa": _interval(metrics.confusion_interval(matrix, metrics.cohen_kappa)),
            "weighted_kappa_quadratic": _interval(metrics.confusion_interval(matrix, metrics.weighted_kappa)),
            "percent_agreement": _interval(metrics.confusion_interval(three, metrics.percent_agreement)),
        }
    return figures


def unit_figures(profiles: np.ndarray, multiplicities: np.ndarray, scales: list[int], *, intervals: bool = True) -> dict:
    """Krippendorff's α (three levels), Fleiss' κ and pooled percent agreement of
    human–human units given as unit types."""
    if len(profiles) == 0:
        return {
            "n_units": 0, "n_values": 0, "scale": None, "krippendorff_alpha": dict.fromkeys(metrics.LEVELS),
            "fleiss_kappa": None, "percent_agreement": None, "percent_agreement_exact": None,
            "percent_agreement_no_ties": None,
        }
    per_type = np.array([metrics.coincidence_of_unit(p) for p in profiles])
    coincidence = np.tensordot(multiplicities, per_type, axes=1)
    alpha = {level: _round(metrics.krippendorff_alpha(coincidence, level=level)) for level in metrics.LEVELS}

    three_way, _ = _pooled_agreement(profiles, multiplicities)
    exact, _ = _pooled_agreement(profiles, multiplicities, transform=lambda p: p)
    no_ties, no_tie_pairs = _pooled_agreement(profiles, multiplicities, transform=metrics.without_ties)
    raters = {int(p.sum()) for p in profiles}
    fleiss = None
    if len(raters) == 1:
        expanded = np.repeat(profiles, multiplicities.astype(int), axis=0)
        fleiss = metrics.fleiss_kappa(expanded)
    distinct_scales = set(scales)
    figures = {
        "n_units": int(multiplicities.sum()),
        "n_values": int(coincidence.sum().round()),
        "scale": "3-way" if distinct_scales == {3} else "5-level" if distinct_scales == {5} else "mixed",
        "krippendorff_alpha": alpha,
        "fleiss_kappa": _round(fleiss),
        "percent_agreement": _round(three_way),
        "percent_agreement_exact": _round(exact),
        "percent_agreement_no_ties": _round(no_ties),
        "n_rater_pairs_no_ties": int(no_tie_pairs),
    }
    if intervals:
        three_types = np.array([list(metrics.pairwise_agreement(metrics.three_way(p))) for p in profiles])
        figures["intervals"] = {
            **{
                f"krippendorff_alpha_{level}": _interval(
                    metrics.bootstrap_interval(per_type, multiplicities, metrics.krippendorff_statistic(level))
                )
                for level in metrics.LEVELS
            },
            "percent_agreement": _interval(
                metrics.bootstrap_interval(three_types, multiplicities, metrics.pooled_share)
            ),
        }
        if fleiss is not None:
            (n_raters,) = raters
            figures["intervals"]["fleiss_kappa"] = _interval(
                metrics.bootstrap_interval(
                    metrics.fleiss_parts(profiles), multiplicities, lambda s: metrics.fleiss_from_parts(s, n_raters)
                )
            )
    return figures

# --- SQL reference source ----------------------------------------------------------------------


def ece_bins(records: QuerySet[Judgment]) -> list[dict]:
    """Per judge and confidence bin (10 equal-width bins) of parsed judgments on gold
    pairs: n, correct and the sum of confidences (one GROUP BY)."""
    return list(
        records.filter(gold_pair(), parse_ok=True, verdict__isnull=False, confidence__isnull=False)
        .annotate(bin=Least(Cast(Floor(F("confidence") * 10), IntegerField()), Value(9)))
        .values("judge_config_id", "bin")
        .annotate(n=Count("id"), correct=Count("id", filter=agrees_with_gold()), confidence=Sum("confidence"))
        .order_by("judge_config_id", "bin")
    )


def ece(bins: list[dict]) -> dict[int, float]:
    """Expected calibration error per judge: Σ_b |correct_b − Σ confidence_b| / N."""
    totals: dict = defaultdict(lambda: [0.0, 0.0])
    for row in bins:
        total = totals[row["judge_config_id"]]
        total[0] += abs(row["correct"] - row["confidence"])  # n_b·|acc_b − conf_b|
        total[1] += row["n"]
    return {judge_id: round(gap / n, 4) for judge_id, (gap, n) in totals.items() if n}


class SqlSource:
    """The report's matrices and counts aggregated from the judgments on each call: the
    reference the counts are checked against (``from_sql``, ``agreement_aggregates
    --check``), about 30 s at 1M pairs / 3M judgments."""

    def __init__(self, project: Project):
        self.project = project

    def judge_names(self) -> dict[int, dict]:
        if not hasattr(self, "_judge_names"):
            self._judge_names = judge_names(self.project)
        return self._judge_names

    def n_pairs(self) -> int:
        return Pair.objects.filter(project=self.project).count()

    def judgment_rows(self) -> dict[bool, int]:
        """Judgments of the project by ``is_human`` (every row: revisions, unparsed)."""
        found = {True: 0, False: 0}
        found.update(
            Judgment.objects.filter(project=self.project).values_list("is_human").annotate(n=Count("id")).order_by()
        )
        return found

    def awaiting_adjudication(self) -> int:
        from .selectors import adjudication_queue

        return adjudication_queue(self.project).count()

    def human_unit_types(self, by: str | None = None) -> dict:
        return human_unit_types(self.project, by=by)

    def human_ai_confusions(self, by: str | None = None) -> dict:
        return human_ai_confusions(self.project, by=by)

    def aspect_confusions(self) -> dict:
        return aspect_confusions(self.project)

    def annotator_confusions(self) -> dict:
        return annotator_confusions(self.project)

    def ai_judge_stats(self, *, lengths: bool = True) -> dict[int, dict]:
        return sql_judge_stats(self.project, lengths=lengths)

    def ai_gold_stats(self) -> dict[int, dict]:
        gold, correct = gold_pair(), agrees_with_gold()
        rows = (
            ai_records(self.project)
            .filter(gold)
            .values("judge_config_id")
            .annotate(
                n=Count("id", filter=Q(parse_ok=True, verdict__isnull=False)),
                correct=Count("id", filter=correct),
                ties=Count("id", filter=Q(verdict=0)),
                parse_failures=Count("id", filter=Q(parse_ok=False)),
            )
            .order_by()
        )
        return {row.pop("judge_config_id"): row for row in rows}

    def ai_ece_bins(self) -> list[dict]:
        return ece_bins(ai_records(self.project))

    def human_stats(self) -> dict:
        decisive = Q(verdict__lt=0) | Q(verdict__gt=0)
        left = (Q(shown_order="ab") & Q(verdict__lt=0)) | (Q(shown_order="ba") & Q(verdict__gt=0))
        unequal = ~Q(pair__response_a__n_chars=F("pair__response_b__n_chars"))
        return human_records(self.project).aggregate(
            n=Count("id"),
            n_decisive_shown=Count("id", filter=decisive & Q(shown_order__in=["ab", "ba"])),
            n_left=Count("id", filter=decisive & left),
            n_decisive_unequal=Count("id", filter=decisive & unequal),
            n_longer_wins=Count("id", filter=decisive & unequal & chose_longer()),
        )

    def annotator_counts(self) -> dict[int, dict]:
        gold = gold_pair()
        rows = (
            human_records(self.project)
            .values("annotator_id")
            .annotate(
                n=Count("id"),
                n_gold=Count("id", filter=gold),
                n_gold_correct=Count("id", filter=gold & agrees_with_gold()),
                time_ms=Sum("time_spent_ms"),
                n_timed=Count("time_spent_ms"),
            )
            .order_by()
        )
        return {row.pop("annotator_id"): row for row in rows}


class CountsSource(agreement_counts.CountSource):
    """The counts kept by ``agreement_counts``, shaped as ``SqlSource`` returns them."""

    def ai_judge_stats(self, *, lengths: bool = True) -> dict[int, dict]:
        return {
            judge: {
                "n_judgments": stats["n_judgments"],
                "n_unparsed": stats["n_unparsed"],
                "n_ties": stats["n_ties"],
                "n_consistency_known": stats["n_position_known"],
                "n_consistent": stats["n_consistent"],
                "n_length_rule": stats["n_length_rule_any"],
                "n_decisive_unequal": stats["n_decisive_unequal"],
                "n_longer_wins": stats["n_longer_wins"],
            }
            for judge, stats in self.judge_counts("all").items()
            if judge in self.ai_judges()
        }

    def ai_gold_stats(self) -> dict[int, dict]:
        return {
            judge: {
                "n": stats["n_parsed"],
                "correct": stats["n_correct"],
                "ties": stats["n_ties"],
                "parse_failures": stats["n_unparsed"],
            }
            for judge, stats in self.judge_counts("gold").items()
            if judge in self.ai_judges()
        }

    def ai_ece_bins(self) -> list[dict]:
        return [row for row in self.calibration_bins() if row["judge_config_id"] in self.ai_judges()]

    def judge_names(self) -> dict[int, dict]:
        if not hasattr(self, "_judge_names"):
            self._judge_names = judge_names(self.project)
        return self._judge_names

    def ai_judges(self) -> set[int]:
        return set(self.judge_names())


def counts(project: Project) -> CountsSource:
    """The counts, caught up first (in the caller's transaction)."""
    return CountsSource(project)


# --- report sections ---------------------------------------------------------------------------


def human_human(project: Project, *, intervals: bool = True, source=None) -> dict:
    units = (source or counts(project)).human_unit_types().get(None)
    if units is None:
        return unit_figures(np.zeros((0, N_VALUES)), np.zeros(0), [], intervals=intervals)
    return unit_figures(*units, intervals=intervals)


def judge_names(project: Project) -> dict[int, dict]:
    return {
        row["id"]: row
        for row in JudgeConfig.objects.filter(project=project, kind=JudgeConfig.Kind.AI).values(
            "id", "name", "method", "model", "template_version"
        )
    }


def sql_judge_stats(project: Project, *, lengths: bool = True) -> dict[int, dict]:
    """Per AI judge: counts, unparsed, ties, position consistency, length rule and
    (with ``lengths``) longer-wins over all its judgments (one GROUP BY)."""
    decisive_unequal = Q(verdict__isnull=False) & ~Q(verdict=0) & ~Q(
        pair__response_a__n_chars=F("pair__response_b__n_chars")
    )
    length_counts = {
        "n_decisive_unequal": Count("id", filter=decisive_unequal),
        "n_longer_wins": Count("id", filter=decisive_unequal & chose_longer()),
    }
    rows = (
        ai_records(project)
        .values("judge_config_id")
        .annotate(
            n_judgments=Count("id"),
            n_unparsed=Count("id", filter=Q(parse_ok=False)),
            n_ties=Count("id", filter=Q(verdict=0)),
            n_consistency_known=Count("id", filter=Q(position_consistent__isnull=False)),
            n_consistent=Count("id", filter=Q(position_consistent=True)),
            n_length_rule=Count("id", filter=Q(length_rule_applied=True)),
            **(length_counts if lengths else {}),
        )
        .order_by()
    )
    return {row.pop("judge_config_id"): row for row in rows}


def _share(part: float, whole: float) -> float | None:
    return round(float(part) / float(whole), 4) if whole else None


def human_stats(project: Project, *, source=None) -> dict:
    """Humans: left-side share of decisive verdicts and longer-wins rate."""
    row = dict((source or counts(project)).human_stats())
    row["left_share"] = _share(row["n_left"], row["n_decisive_shown"])
    row["longer_wins"] = _share(row["n_longer_wins"], row["n_decisive_unequal"])
    return row


def _longer_wins_on_items(lengths: np.ndarray) -> dict:
    """Longer-wins rates of humans and of the judge over the same compared items."""
    values = np.asarray(metrics.VALUES)
    result = {}
    for who, axis in (("human", 1), ("judge", 0)):
        # Sum the other rater out: per longer side, counts of this rater's values.
        per_value = lengths.sum(axis=axis + 1)  # shape (3 sides, 5 values)
        decisive = per_value[[0, 2]][:, values != 0].sum()
        wins = per_value[0, values < 0].sum() + per_value[2, values > 0].sum()
        result[who] = (wins, decisive)
    return result


def human_ai(project: Project, *, intervals: bool = True, lengths: bool = True, source=None) -> list[dict]:
    """One entry per AI judge: figures against first human records, with the
    confusion matrix, position consistency and the unparsed count; with ``lengths``
    also length bias (over all its verdicts, and against humans on the same items)."""
    source = source or counts(project)
    names = source.judge_names()
    confusions = source.human_ai_confusions(by="longer" if lengths else None)
    stats = source.ai_judge_stats(lengths=lengths)
    entries = []
    for judge_id, info in sorted(names.items(), key=lambda item: item[1]["name"]):
        stat = stats.get(judge_id)
        cell = confusions.get((judge_id, None))
        if stat is None and cell is None:
            continue
        matrix = cell["matrix"] if cell else np.zeros((N_VALUES, N_VALUES))
        figures = confusion_figures(matrix, intervals=intervals)
        scale = "5-level" if cell and cell["five_level"] == figures["n"] else "3-way" if cell and not cell["five_level"] else "mixed"
        entry = {
            "judge": info["name"],
            "judge_id": judge_id,
            "method": info["method"],
            "model": info["model"],
            "template_version": info["template_version"],
            **figures,
            "scale": scale if figures["n"] else None,
            "confusion": matrix.astype(int).tolist(),
        }
        if stat:
            entry.update(
                n_judgments=stat["n_judgments"],
                n_unparsed=stat["n_unparsed"],
                tie_rate=_share(stat["n_ties"], stat["n_judgments"] - stat["n_unparsed"]),
                position_consistency=_share(stat["n_consistent"], stat["n_consistency_known"]),
                n_position_known=stat["n_consistency_known"],
                length_rule_rate=_share(stat["n_length_rule"], stat["n_judgments"] - stat["n_unparsed"]),
            )
        if stat and lengths:
            entry["longer_wins"] = _share(stat["n_longer_wins"], stat["n_decisive_unequal"])
        if cell and lengths:
            same = _longer_wins_on_items(cell["lengths"])
            judge_lw, human_lw = _share(*same["judge"]), _share(*same["human"])
            entry["longer_wins_same_items"] = {
                "judge": judge_lw,
                "human": human_lw,
                "gap": round(judge_lw - human_lw, 4) if judge_lw is not None and human_lw is not None else None,
            }
        entries.append(entry)
    return entries


def judges_against_gold(project: Project, *, source=None) -> dict[int, dict]:
    """Accuracy of each AI judge on gold pairs with a non-tie label (AI tie = wrong),
    tie rate, parse failures and expected calibration error over 10 bins."""
    source = source or counts(project)
    result = {
        judge_id: {
            "n": row["n"],
            "accuracy": _share(row["correct"], row["n"]),
            "tie_rate": _share(row["ties"], row["n"]),
            "parse_failures": row["parse_failures"],
            "ece": None,
        }
        for judge_id, row in source.ai_gold_stats().items()
    }
    for judge_id, value in ece(source.ai_ece_bins()).items():
        if judge_id in result:
            result[judge_id]["ece"] = value
    return result


def last_judgments(project: Project, annotator_ids: Iterable[int]) -> dict[int, object]:
    """Each annotator's newest first human record in the project: one query, one
    backward walk of the (annotator, created_at) index per annotator."""
    newest = human_records(project).filter(annotator_id=OuterRef("pk")).order_by("-created_at").values("created_at")[:1]
    return dict(
        Annotator.objects.filter(id__in=list(annotator_ids))
        .annotate(last=Subquery(newest))
        .values_list("id", "last")
    )


def annotators(project: Project, *, source=None) -> list[dict]:
    """Each annotator: throughput, accuracy on gold pairs, agreement with the rest."""
    source = source or counts(project)
    rows = source.annotator_counts()
    names = dict(Annotator.objects.filter(id__in=list(rows)).values_list("id", "name"))
    last = last_judgments(project, rows)
    rest = source.annotator_confusions()
    entries = []
    for annotator_id, row in rows.items():
        matrix = rest.get(annotator_id, np.zeros((N_VALUES, N_VALUES)))
        entries.append(
            {
                "annotator": names.get(annotator_id, "?"),
                "annotator_id": annotator_id,
                "n": row["n"],
                "last_judgment": last[annotator_id].isoformat() if last.get(annotator_id) else None,
                "mean_seconds": round(row["time_ms"] / row["n_timed"] / 1000, 1) if row["n_timed"] else None,
                "n_gold": row["n_gold"],
                "gold_accuracy": _share(row["n_gold_correct"], row["n_gold"]),
                "vs_rest": {
                    "n": int(matrix.sum()),
                    "cohen_kappa": _round(metrics.cohen_kappa(matrix)),
                    "percent_agreement": _round(metrics.percent_agreement(metrics.three_way_confusion(matrix))),
                },
            }
        )
    return sorted(entries, key=lambda entry: (entry["annotator"], entry["annotator_id"]))


def annotator_gold_answers(
    *, annotator_ids: Iterable[int], project_ids: Iterable[int]
) -> dict[tuple[int, int], tuple[int, int]]:
    """(project, annotator) → (gold answers, correct ones), for weighted consensus."""
    gold, correct = gold_pair(), agrees_with_gold()
    rows = (
        Judgment.objects.filter(
            gold, project_id__in=list(project_ids), annotator_id__in=list(annotator_ids), is_human=True,
            is_revision=False, verdict__isnull=False,
        )
        .values("project_id", "annotator_id")
        .annotate(n=Count("id"), correct=Count("id", filter=correct))
        .order_by()
    )
    return {(row["project_id"], row["annotator_id"]): (row["n"], row["correct"]) for row in rows}


def over_time(project: Project, *, source=None) -> dict:
    """Weekly 3-way percent agreement: human–human, and each judge against humans."""
    source = source or counts(project)
    series: dict[str, list] = {"human_human": []}
    for week, (profiles, multiplicities, _) in sorted(source.human_unit_types(by="week").items()):
        value, _ = _pooled_agreement(profiles, multiplicities)
        series["human_human"].append({"week": week, "value": _round(value), "n": int(multiplicities.sum())})
    names = source.judge_names()
    confusions = source.human_ai_confusions(by="week")
    for (judge_id, week), cell in sorted(confusions.items(), key=lambda item: (item[0][1], item[0][0])):
        if judge_id not in names:
            continue
        matrix = cell["matrix"]
        series.setdefault(names[judge_id]["name"], []).append(
            {
                "week": week,
                "judge_id": judge_id,
                "value": _round(metrics.percent_agreement(metrics.three_way_confusion(matrix))),
                "kappa": _round(metrics.cohen_kappa(matrix)),
                "n": int(matrix.sum()),
            }
        )
    return series


def by_category(project: Project, *, source=None) -> list[dict]:
    """Human–AI agreement per judge and prompt category, with human–human beside it."""
    source = source or counts(project)
    names = source.judge_names()
    humans = source.human_unit_types(by="category")
    rows: dict[str, dict] = {}
    for (judge_id, category), cell in sorted(source.human_ai_confusions(by="category").items()):
        if judge_id not in names:
            continue
        row = rows.setdefault(category, {"category": category, "judges": {}, "human_human": None})
        matrix = cell["matrix"]
        row["judges"][names[judge_id]["name"]] = {
            "judge_id": judge_id,
            "n": int(matrix.sum()),
            "percent_agreement": _round(metrics.percent_agreement(metrics.three_way_confusion(matrix))),
            "cohen_kappa": _round(metrics.cohen_kappa(matrix)),
            "small": bool(matrix.sum() < SMALL_CELL),
        }
    for category, (profiles, multiplicities, _) in humans.items():
        row = rows.setdefault(category, {"category": category, "judges": {}, "human_human": None})
        value, _ = _pooled_agreement(profiles, multiplicities)
        row["human_human"] = {
            "n": int(multiplicities.sum()),
            "percent_agreement": _round(value),
            "small": bool(multiplicities.sum() < SMALL_CELL),
        }
    return sorted(rows.values(), key=lambda row: row["category"])


def stratum_unit_types(project: Project) -> dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]:
    """Evidence for auto-accept: per (AI judge, prompt category), pairs as unit types
    (agreeing comparisons, comparisons) where a comparison is a first human record
    against the judge's verdict with neither a tie, and how many pairs share each."""
    inner = human_pair_counts(project, include_assisted=False, key=GROUP_KEYS["category"]())
    units = (
        "a.judge_config_id AS judge, h.key AS category, "
        "CASE WHEN a.verdict < 0 THEN h.c0 + h.c1 WHEN a.verdict > 0 THEN h.c3 + h.c4 ELSE 0 END AS agree, "
        "CASE WHEN a.verdict <> 0 THEN h.c0 + h.c1 + h.c3 + h.c4 ELSE 0 END AS total"
    )
    sql, params = _ai_join(inner, units)
    rows = _fetch(
        f"SELECT judge, category, agree, total, COUNT(*) FROM ({sql}) units WHERE total > 0 "
        f"GROUP BY judge, category, agree, total",
        params,
    )
    grouped: dict = defaultdict(lambda: ([], []))
    for judge_id, category, agreeing, total, n in rows:
        parts, multiplicities = grouped[(judge_id, category)]
        parts.append([agreeing, total])
        multiplicities.append(n)
    return {
        key: (np.array(parts, dtype=float), np.array(multiplicities, dtype=float))
        for key, (parts, multiplicities) in grouped.items()
    }


def by_template(entries: list[dict]) -> list[dict]:
    """Human–AI agreement per (method, template version), summing the judges' matrices
    from ``human_ai`` (no query)."""
    grouped: dict[tuple[str, str], np.ndarray] = {}
    for entry in entries:
        key = (entry["method"], entry["template_version"])
        grouped[key] = grouped.get(key, np.zeros((N_VALUES, N_VALUES))) + np.asarray(entry["confusion"])
    return [
        {"method": method, "template_version": version, **confusion_figures(matrix, intervals=False)}
        for (method, version), matrix in sorted(grouped.items())
    ]


def by_aspect(project: Project, *, source=None) -> list[dict]:
    source = source or counts(project)
    names = source.judge_names()
    return [
        {"aspect": aspect, "judge": names[judge_id]["name"], "judge_id": judge_id, **confusion_figures(matrix, intervals=False)}
        for (aspect, judge_id), matrix in sorted(source.aspect_confusions().items())
        if judge_id in names
    ]


def report(project: Project, *, intervals: bool = True, breakdowns: bool = False) -> dict:
    """The agreement report of ``manage.py agreement_report`` (see docs/curation.md),
    from the maintained counts (stale pairs caught up first)."""
    with aggregate_session():
        return build_report(project, counts(project), intervals=intervals, breakdowns=breakdowns)


def from_sql(project: Project, *, intervals: bool = True, breakdowns: bool = False) -> dict:
    """The same report aggregated from the judgments by SQL: the reference."""
    with aggregate_session():
        return build_report(project, SqlSource(project), intervals=intervals, breakdowns=breakdowns)


def build_report(project: Project, source, *, intervals: bool, breakdowns: bool) -> dict:
    judges = human_ai(project, intervals=intervals, source=source)
    gold = judges_against_gold(project, source=source)
    for entry in judges:
        entry["against_gold"] = gold.get(entry["judge_id"])
    humans = human_stats(project, source=source)
    result = {
        "project": project.slug,
        "n_pairs": source.n_pairs(),
        "n_human_judgments": humans["n"],
        "human_human": human_human(project, intervals=intervals, source=source),
        "human_ai": judges,
        "annotators": annotators(project, source=source),
        "humans": humans,
    }
    if breakdowns:
        result["by_category"] = by_category(project, source=source)
        result["by_template"] = by_template(judges)
        result["by_aspect"] = by_aspect(project, source=source)
        result["over_time"] = over_time(project, source=source)
    return result

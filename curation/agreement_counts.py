"""Agreement counts: the count matrices and unit-type profiles of the agreement report,
kept up to date as judgments change instead of aggregated over every judgment on each
request (issue 9: 1M pairs / 3M judgments).

Why per pair: every figure of the report is a sum over pairs of something that depends
only on that pair (its first human records, its AI judgments, its gold answer, its
category and response lengths), including the human–human unit types, whose profile
is the multiset of the pair's human values. So the counts (``AgreementCount``) are the
sum of each pair's *contribution*, and a change to a pair is applied by removing the
contribution it was counted with and adding its current one.

What the counts were built from is recorded on the rows themselves:
- ``Judgment.aggregated``: the judgment is in the counts (a database default of false,
  so judgments written by any path, even raw SQL, are caught up);
- ``Pair.agreement_counted``/``agreement_gold``: the pair is in the counts, with that
  gold answer; ``Pair.agreement_stale``: its state may differ (a new pair, a new gold
  answer from ``pairs_refresh``).
The contribution a pair was counted with is thus recomputed from its aggregated
judgments and ``agreement_gold``; ``catch_up`` applies the difference for every stale
pair under a row lock, in the caller's transaction. The services that write judgments
call it at once (same transaction); bulk writers leave the markers and the next read
catches up. Deleting a judgment needs its old contribution first: ``uncount`` removes
the pair from the counts before the delete.

``CountSource`` reads the counts back into the same matrices and unit types as the SQL
path of ``curation.agreement`` (kept as the reference: ``agreement.from_sql``).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.db import connection, models, transaction
from django.db.models import Case, Exists, F, Max, OuterRef, Q, Subquery, Value, When
from django.utils import timezone

from . import metrics
from .models import Adjudication, AgreementCount, JudgeConfig, Judgment, Pair, Project

CHUNK = 2000  # pairs per catch-up step
UPSERT_BATCH = 2000  # rows per upsert (10 parameters each: under SQLite's 32,766)
N_VALUES = len(metrics.VALUES)

# Per-judge stats (over all of a judge's judgments, and over gold pairs)
JUDGE_STATS = (
    "n_judgments", "n_parsed", "n_unparsed", "n_ties", "n_position_known", "n_consistent", "n_length_rule",
    "n_length_rule_any", "n_decisive_unequal", "n_longer_wins", "n_correct",
)
HUMAN_STATS = ("n", "n_decisive_shown", "n_left", "n_decisive_unequal", "n_longer_wins")
ANNOTATOR_STATS = ("n", "n_gold", "n_gold_correct", "time_ms", "n_timed")

JUDGMENT_FIELDS = (
    "id", "pair_id", "is_human", "annotator_id", "judge_config_id", "judge_config__kind", "verdict", "strength_known",
    "is_revision", "mode", "parse_ok", "confidence", "position_consistent", "length_rule_applied", "shown_order",
    "time_spent_ms", "created_at", "aspects", "aggregated",
)


@dataclass(slots=True)
class Row:
    """The fields of one judgment a contribution reads."""

    id: int
    pair_id: int
    is_human: bool
    annotator_id: int | None
    judge_id: int | None
    kind: str | None
    verdict: int | None
    strength_known: bool
    is_revision: bool
    mode: str
    parse_ok: bool
    confidence: float | None
    position_consistent: bool | None
    length_rule_applied: bool
    shown_order: str
    time_spent_ms: int | None
    created_at: object
    aspects: dict
    aggregated: bool


@dataclass(slots=True)
class PairInfo:
    id: int
    project_id: int
    category: str
    n_a: int
    n_b: int
    gold: int | None
    counted: bool
    counted_gold: int | None
    stale: bool
    consensus: int | None = None
    n_human: int = 0
    adjudicated: bool = False
    counted_queue: int | None = None
    through: int = 0  # the project's ``agreement_judgments_through``

    def counts(self, row: Row) -> bool:
        """The judgment is in the counts."""
        return row.aggregated or row.id <= self.through


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def week_of(moment) -> str:
    """The Monday of ``moment``'s week in the current time zone (as ``TruncWeek``)."""
    day = timezone.localtime(moment).date() if timezone.is_aware(moment) else moment.date()
    return (day - timedelta(days=day.weekday())).isoformat()


def confidence_bin(confidence: float) -> int:
    """Ten equal-width bins; 1.0 falls in the last."""
    return min(math.floor(confidence * 10), 9)


def _aspect_value(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        return None
    value = int(value)
    return value if -2 <= value <= 2 else None


# --- a pair's contribution ---------------------------------------------------------------


def contribution(pair: PairInfo, judgments: list[Row], gold: int | None, out: dict) -> None:
    """Add the pair's counts to ``out`` (key → [n, total]).

    Keys are (figure, judge, annotator, group, profile, h, a); the definitions are those
    of ``curation.agreement``'s SQL (its module docstring).
    """

    def add(key: tuple, n: int = 1, total: float = 0.0) -> None:
        cell = out.get(key)
        if cell is None:
            out[key] = [n, total]
        else:
            cell[0] += n
            cell[1] += total

    add(("pairs", 0, 0, "", "", 0, 0))
    for j in judgments:  # every row, for the project's judgment counts
        add(("rows", 0, 0, "human" if j.is_human else "ai", "", 0, 0))
    side = -1 if pair.n_a > pair.n_b else 1 if pair.n_a < pair.n_b else 0
    gold_decisive = gold is not None and gold != 0
    humans = [j for j in judgments if j.is_human and not j.is_revision and j.verdict is not None]
    _human_stats(pair, humans, side, gold, gold_decisive, add)
    if len(humans) >= 2:
        _human_units(pair, humans, add)
    not_assisted = [j for j in humans if j.mode != Judgment.Mode.ASSISTED]
    ai = [j for j in judgments if not j.is_human]
    if not_assisted:
        _human_ai(pair, not_assisted, ai, side, add)
    for j in ai:
        _judge_stats(j, side, gold, gold_decisive, add)


def _human_stats(pair: PairInfo, humans: list[Row], side: int, gold, gold_decisive: bool, add) -> None:
    for j in humans:
        v = j.verdict
        decisive = v != 0
        add(("humans", 0, 0, "n", "", 0, 0))
        if decisive and j.shown_order in ("ab", "ba"):
            add(("humans", 0, 0, "n_decisive_shown", "", 0, 0))
            if (j.shown_order == "ab" and v < 0) or (j.shown_order == "ba" and v > 0):
                add(("humans", 0, 0, "n_left", "", 0, 0))
        if decisive and side != 0:
            add(("humans", 0, 0, "n_decisive_unequal", "", 0, 0))
            if _sign(v) == side:
                add(("humans", 0, 0, "n_longer_wins", "", 0, 0))
        who = j.annotator_id
        add(("annotator", 0, who, "n", "", 0, 0))
        if gold_decisive:
            add(("annotator", 0, who, "n_gold", "", 0, 0))
            if _sign(v) == _sign(gold) and v != 0:
                add(("annotator", 0, who, "n_gold_correct", "", 0, 0))
        if j.time_spent_ms is not None:
            add(("annotator", 0, who, "time_ms", "", 0, 0), j.time_spent_ms)
            add(("annotator", 0, who, "n_timed", "", 0, 0))


def _human_units(pair: PairInfo, humans: list[Row], add) -> None:
    """The pair as a human–human unit type (profile of values), overall, by category
    and by the week of its last human record; and each annotator against the others."""
    three = any(not j.strength_known for j in humans)
    counts = [0] * N_VALUES
    for j in humans:
        counts[j.verdict + 2] += 1
    profile, scale = ",".join(map(str, counts)), 3 if three else 5
    week = week_of(max(j.created_at for j in humans))
    add(("hh", 0, 0, "", profile, scale, 0))
    add(("hh_cat", 0, 0, pair.category, profile, scale, 0))
    add(("hh_week", 0, 0, week, profile, scale, 0))
    scaled = _sign if three else (lambda v: v)
    for j in humans:
        for other in humans:
            if other is not j:
                add(("vs_rest", 0, j.annotator_id, "", "", scaled(j.verdict), scaled(other.verdict)))


def _human_ai(pair: PairInfo, humans: list[Row], ai: list[Row], side: int, add) -> None:
    """First human records (not assisted) against each parsed AI verdict on the pair."""
    three = any(not j.strength_known for j in humans)
    week = week_of(max(j.created_at for j in humans))
    for a in ai:
        if a.kind != JudgeConfig.Kind.AI or not a.parse_ok or a.verdict is None:
            continue
        five = a.strength_known and not three
        av = a.verdict if five else _sign(a.verdict)
        for h in humans:
            hv = h.verdict if five else _sign(h.verdict)
            add(("ha", a.judge_id, 0, str(side), "5" if five else "3", hv, av))
            add(("ha_cat", a.judge_id, 0, pair.category, "", hv, av))
            add(("ha_week", a.judge_id, 0, week, "", hv, av))
            if h.aspects and a.aspects:
                for aspect, value in h.aspects.items():
                    if aspect in a.aspects:
                        ha, aa = _aspect_value(value), _aspect_value(a.aspects[aspect])
                        if ha is not None and aa is not None:
                            add(("aspect", a.judge_id, 0, str(aspect)[:120], "", ha, aa))


def _judge_stats(j: Row, side: int, gold, gold_decisive: bool, add) -> None:
    """Per judge (any kind), over all its judgments and over gold pairs."""
    parsed = j.parse_ok and j.verdict is not None
    decisive_unequal = j.verdict is not None and j.verdict != 0 and side != 0
    stats = {
        "n_judgments": True,
        "n_parsed": parsed,
        "n_unparsed": not j.parse_ok,
        "n_ties": j.verdict == 0,
        "n_position_known": j.position_consistent is not None,
        "n_consistent": j.position_consistent is True,
        "n_length_rule": parsed and j.length_rule_applied,
        "n_length_rule_any": j.length_rule_applied,
        "n_decisive_unequal": decisive_unequal,
        "n_longer_wins": decisive_unequal and _sign(j.verdict) == side,
    }
    scopes = ["all", "gold"] if gold_decisive else ["all"]
    correct = gold_decisive and parsed and j.verdict != 0 and _sign(j.verdict) == _sign(gold)
    for scope in scopes:
        for stat, holds in stats.items():
            if holds:
                add(("judge", j.judge_id, 0, stat, scope, 0, 0))
    if gold_decisive:
        if correct:
            add(("judge", j.judge_id, 0, "n_correct", "gold", 0, 0))
        if parsed and j.confidence is not None:
            bin_ = confidence_bin(j.confidence)
            add(("ece", j.judge_id, 0, "n", "", bin_, 0), 1, j.confidence)
            if correct:
                add(("ece", j.judge_id, 0, "correct", "", bin_, 0))


# --- keeping the counts ------------------------------------------------------------------------


def _stale_pairs(project_id: int | None, pair_ids: list[int] | None) -> list[int]:
    """Pairs whose counts may be out of date (two partial-index lookups)."""
    unaggregated = Judgment.objects.filter(
        pair=OuterRef("pk"), aggregated=False, id__gt=OuterRef("project__agreement_judgments_through")
    )
    if pair_ids is not None:
        pairs = Pair.objects.filter(id__in=pair_ids)
        return sorted(pairs.filter(Q(agreement_stale=True) | Exists(unaggregated)).values_list("id", flat=True))
    stale = Pair.objects.filter(project_id=project_id, agreement_stale=True).values_list("id", flat=True).order_by()
    through = Project.objects.filter(pk=project_id).values("agreement_judgments_through")
    unaggregated = Judgment.objects.filter(
        project_id=project_id, aggregated=False, id__gt=Subquery(through)
    ).values_list("pair_id", flat=True)
    return sorted(set(stale.union(unaggregated.order_by())))


def _load(pair_ids: list[int], *, lock: bool) -> tuple[dict[int, PairInfo], dict[int, list[Row]]]:
    pairs = Pair.objects.filter(id__in=pair_ids).order_by("id")
    if lock:
        pairs = pairs.select_for_update(of=("self",))
    info = {
        row[0]: PairInfo(*row)
        for row in pairs.annotate(adjudicated=Exists(Adjudication.objects.filter(pair=OuterRef("pk")))).values_list(
            "id", "project_id", "prompt__category", "response_a__n_chars", "response_b__n_chars", "gold_verdict",
            "agreement_counted", "agreement_gold", "agreement_stale", "consensus_verdict", "n_human_judgments",
            "adjudicated", "agreement_queue", "project__agreement_judgments_through",
        )
    }
    rows: dict[int, list[Row]] = defaultdict(list)
    for values in Judgment.objects.filter(pair_id__in=pair_ids).order_by().values_list(*JUDGMENT_FIELDS):
        row = Row(*values)
        rows[row.pair_id].append(row)
    return info, rows


def _counted(info: PairInfo, rows: list[Row], out: dict, sign: int = 1) -> None:
    """Add (sign 1) or subtract (−1) what the counts hold for the pair."""
    if not info.counted:
        return
    part: dict = {}
    contribution(info, [r for r in rows if info.counts(r)], info.counted_gold, part)
    if info.counted_queue is not None:
        part[QUEUE_KEY[info.counted_queue > 0] + (info.counted_queue, 0)] = [1, 0.0]
    for key, (n, total) in part.items():
        cell = out.setdefault(key, [0, 0.0])
        cell[0] += sign * n
        cell[1] += sign * total


QUEUE_KEY = {False: ("queue", 0, 0, "conflict", ""), True: ("queue", 0, 0, "disagree", "")}


def queue_place(info: PairInfo, rows: list[Row]) -> int | None:
    """Where the pair stands in the adjudication queue (``selectors.adjudication_queue``):
    None when it cannot be queued whatever the quorum, 0 for humans vs AI, or its number
    of human judgments when its humans disagree without consensus (queued once that
    reaches the quorum)."""
    if info.adjudicated:
        return None
    humans = [r.verdict for r in rows if r.is_human and not r.is_revision and r.verdict is not None]
    if info.consensus is None:
        disagree = (any(v < 0 for v in humans) and any(v >= 0 for v in humans)) or (
            0 in humans and any(v > 0 for v in humans)
        )
        return info.n_human if disagree and info.n_human >= 2 else None
    other_side = -_sign(info.consensus)
    conflict = any(
        not r.is_human and r.kind == JudgeConfig.Kind.AI and r.parse_ok and r.verdict is not None and r.verdict != 0
        and _sign(r.verdict) == other_side
        for r in rows
    )
    return 0 if conflict else None


def _current(info: PairInfo, rows: list[Row], out: dict) -> None:
    contribution(info, rows, info.gold, out)
    place = queue_place(info, rows)
    if place is not None:
        cell = out.setdefault(QUEUE_KEY[place > 0] + (place, 0), [0, 0.0])
        cell[0] += 1


def apply(project_id: int, delta: dict) -> None:
    """Add ``delta`` (key → [n, total]) to the counts: one upsert per batch, keys in a
    fixed order so that concurrent writers lock count rows in the same order."""
    items = sorted((key, value) for key, value in delta.items() if value[0] or value[1])
    if not items:
        return
    table = connection.ops.quote_name(AgreementCount._meta.db_table)
    columns = "project_id, figure, judge_id, annotator_id, group_key, profile, h, a, n, total"
    key = "project_id, figure, judge_id, annotator_id, group_key, profile, h, a"
    with connection.cursor() as cursor:
        for start in range(0, len(items), UPSERT_BATCH):
            batch = items[start : start + UPSERT_BATCH]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(batch))
            params = [p for (k, (n, total)) in batch for p in (project_id, *k, n, total)]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT ({key}) DO UPDATE SET "
                f"n = {table}.n + excluded.n, total = {table}.total + excluded.total",
                params,
            )


def _mark(info: dict[int, PairInfo], rows: dict[int, list[Row]], *, counted: bool) -> None:
    """Record what the counts now hold. Taking a pair out (``counted`` false) leaves its
    judgments' flags alone: the counts hold nothing of a pair not counted."""
    if counted:
        judgment_ids = [r.id for pk, pair_rows in rows.items() for r in pair_rows if not info[pk].counts(r)]
        for start in range(0, len(judgment_ids), 5000):
            Judgment.objects.filter(id__in=judgment_ids[start : start + 5000]).update(aggregated=True)  # the pairs are locked: what was counted is what they hold
        changed: dict = defaultdict(list)
        for p in info.values():
            place = queue_place(p, rows.get(p.id, []))
            if not p.counted or p.stale or p.counted_gold != p.gold or p.counted_queue != place:
                changed[place].append(p.id)
        if changed:  # one UPDATE: the queue place per pair as a CASE over a handful of values
            places = [When(id__in=ids, then=Value(place)) for place, ids in changed.items() if place is not None]
            Pair.objects.filter(id__in=[pk for ids in changed.values() for pk in ids]).update(
                agreement_stale=False, agreement_counted=True, agreement_gold=F("gold_verdict"),
                agreement_queue=Case(*places, default=None, output_field=models.SmallIntegerField()),
            )
    else:
        Pair.objects.filter(id__in=list(info)).update(
            agreement_stale=True, agreement_counted=False, agreement_gold=None, agreement_queue=None
        )


@transaction.atomic(savepoint=False)
def catch_up(*, project: Project | None = None, pair_ids=None, changed: bool = False) -> int:
    """Bring the counts up to date for the given pairs, or for every stale pair of
    ``project``: lock them, replace what they were counted with by their current
    contribution. ``changed``: the caller just changed these pairs (no need to look
    for stale ones). Returns how many pairs were caught up."""
    if changed and pair_ids is not None:
        ids = sorted(set(pair_ids))
    else:
        ids = _stale_pairs(project.pk if project else None, None if pair_ids is None else list(pair_ids))
    for start in range(0, len(ids), CHUNK):
        _catch_up_chunk(ids[start : start + CHUNK])
    return len(ids)


def _catch_up_chunk(ids: list[int]) -> None:
    info, rows = _load(ids, lock=True)
    deltas: dict[int, dict] = defaultdict(dict)
    for pk, pair in info.items():
        delta = deltas[pair.project_id]
        _counted(pair, rows.get(pk, []), delta, sign=-1)
        _current(pair, rows.get(pk, []), delta)
    for project_id, delta in sorted(deltas.items()):
        apply(project_id, delta)
    _mark(info, rows, counted=True)


@transaction.atomic(savepoint=False)
def uncount(*, pair_ids) -> None:
    """Remove the pairs from the counts (before a delete or an in-place change of their
    judgments); the next ``catch_up`` adds them back as they are then."""
    ids = sorted(set(pair_ids))
    info, rows = _load(ids, lock=True)
    deltas: dict[int, dict] = defaultdict(dict)
    for pk, pair in info.items():
        _counted(pair, rows.get(pk, []), deltas[pair.project_id], sign=-1)
    for project_id, delta in sorted(deltas.items()):
        apply(project_id, delta)
    _mark(info, rows, counted=False)


def mark_changed(pair_ids) -> None:
    """``pairs_refresh`` changed these pairs' gold answer, consensus or number of human
    judgments (what the counts read from the pair itself)."""
    ids = list(pair_ids)
    if ids:
        Pair.objects.filter(id__in=ids).update(agreement_stale=True)


@transaction.atomic
def rebuild(project: Project, *, progress=None) -> int:
    """Recount the project from scratch (one pass over its judgments, in chunks of
    pairs): for a first build, or after changes made behind the services' back."""
    if connection.vendor == "postgresql":  # concurrent catch-ups wait for the new counts
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {AgreementCount._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
    AgreementCount.objects.filter(project=project).delete()
    through = Judgment.objects.filter(project=project).aggregate(last=Max("id"))["last"] or 0
    total: dict = {}
    queued: dict = defaultdict(list)
    ids = list(Pair.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), 20 * CHUNK):
        chunk = ids[start : start + 20 * CHUNK]
        info, rows = _load(chunk, lock=False)
        for pk, pair in info.items():
            counted = [r for r in rows.get(pk, []) if r.id <= through]  # later ones: caught up as usual
            _current(pair, counted, total)
            place = queue_place(pair, counted)
            if place is not None:
                queued[place].append(pk)
        if progress:
            progress(start + len(chunk), len(ids))
    apply(project.pk, total)
    # Every judgment up to ``through`` is counted: one field, not millions of rows marked.
    Project.objects.filter(pk=project.pk).update(agreement_judgments_through=through)
    Pair.objects.filter(project=project).update(
        agreement_stale=False, agreement_counted=True, agreement_gold=F("gold_verdict"), agreement_queue=None
    )
    for place, pair_ids in queued.items():
        for start in range(0, len(pair_ids), 10_000):
            Pair.objects.filter(id__in=pair_ids[start : start + 10_000]).update(agreement_queue=place)
    return len(ids)


# --- reading the counts ----------------------------------------------------------------------


class CountSource:
    """The matrices and unit types of ``curation.agreement``, read from the counts
    (after catching up stale pairs). Each figure's rows are read once, on first use."""

    def __init__(self, project: Project, *, catch_up_first: bool = True):
        self.project = project
        self._rows: dict[str, list[tuple]] = {}
        if catch_up_first:
            catch_up(project=project)

    def rows(self, figure: str) -> list[tuple]:
        """(judge, annotator, group, profile, h, a, n, total) of one figure, non-zero."""
        if figure not in self._rows:
            self._rows[figure] = list(
                AgreementCount.objects.filter(project=self.project, figure=figure)
                .filter(~Q(n=0) | ~Q(total=0))
                .values_list("judge_id", "annotator_id", "group_key", "profile", "h", "a", "n", "total")
            )
        return self._rows[figure]

    def n_pairs(self) -> int:
        return sum(row[6] for row in self.rows("pairs"))

    def judgment_rows(self) -> dict[bool, int]:
        """Judgments of the project by ``is_human`` (every row: revisions, unparsed)."""
        found = {True: 0, False: 0}
        for _, _, kind, _, _, _, n, _ in self.rows("rows"):
            found[kind == "human"] += n
        return found

    def awaiting_adjudication(self) -> int:
        """``selectors.adjudication_queue(project).count()``, from the counts."""
        quorum = max(2, self.project.effective_quorum)
        return sum(
            n for _, _, group, _, h, _, n, _ in self.rows("queue") if group == "conflict" or h >= quorum
        )

    def human_unit_types(self, by: str | None = None) -> dict:
        figure = {None: "hh", "category": "hh_cat", "week": "hh_week"}[by]
        grouped: dict = defaultdict(list)
        for _, _, group, profile, scale, _, n, _ in self.rows(figure):
            counts = [int(c) for c in profile.split(",")]
            grouped[group if by else None].append((scale == 3, counts, n))
        return {group: unit_types(units) for group, units in grouped.items()}

    def human_ai_confusions(self, by: str | None = None) -> dict:
        figure = {None: "ha", "longer": "ha", "category": "ha_cat", "week": "ha_week"}[by]
        result: dict = defaultdict(new_cell)
        for judge, _, group, profile, h, a, n, _ in self.rows(figure):
            key = group if by in ("category", "week") else None
            cell = result[(judge, key)]
            cell["matrix"][h + 2, a + 2] += n
            if figure == "ha":
                cell["five_level"] += n if profile == "5" else 0
                if by == "longer":
                    cell["lengths"][int(group) + 1, h + 2, a + 2] += n
        return dict(result)

    def aspect_confusions(self) -> dict:
        aspects = set(self.project.aspects or [])
        result: dict = {}
        for judge, _, aspect, _, h, a, n, _ in self.rows("aspect"):
            if aspect in aspects:
                matrix = result.setdefault((aspect, judge), np.zeros((N_VALUES, N_VALUES)))
                matrix[h + 2, a + 2] += n
        return result

    def annotator_confusions(self) -> dict[int, np.ndarray]:
        result: dict[int, np.ndarray] = defaultdict(lambda: np.zeros((N_VALUES, N_VALUES)))
        for _, annotator, _, _, h, a, n, _ in self.rows("vs_rest"):
            result[annotator][h + 2, a + 2] += n
        return dict(result)

    def judge_counts(self, scope: str = "all") -> dict[int, dict]:
        """Per judge (any kind) with at least one judgment in ``scope``: JUDGE_STATS."""
        result: dict[int, dict] = defaultdict(lambda: dict.fromkeys(JUDGE_STATS, 0))
        for judge, _, stat, row_scope, _, _, n, _ in self.rows("judge"):
            if row_scope == scope:
                result[judge][stat] += n
        return {judge: stats for judge, stats in result.items() if stats["n_judgments"]}

    def calibration_bins(self) -> list[dict]:
        """Per judge and confidence bin on gold pairs: n, correct, Σ confidence."""
        bins: dict = defaultdict(lambda: {"n": 0, "correct": 0, "confidence": 0.0})
        for judge, _, what, _, bin_, _, n, total in self.rows("ece"):
            cell = bins[(judge, bin_)]
            if what == "n":
                cell["n"] += n
                cell["confidence"] += total
            else:
                cell["correct"] += n
        return [{"judge_config_id": judge, "bin": bin_, **cell} for (judge, bin_), cell in sorted(bins.items()) if cell["n"]]

    def human_stats(self) -> dict:
        stats = dict.fromkeys(HUMAN_STATS, 0)
        for _, _, stat, _, _, _, n, _ in self.rows("humans"):
            stats[stat] += n
        return stats

    def annotator_counts(self) -> dict[int, dict]:
        result: dict[int, dict] = defaultdict(lambda: dict.fromkeys(ANNOTATOR_STATS, 0))
        for _, annotator, stat, _, _, _, n, _ in self.rows("annotator"):
            result[annotator][stat] += n
        return {annotator: stats for annotator, stats in result.items() if stats["n"]}


def new_cell() -> dict:
    return {"matrix": np.zeros((N_VALUES, N_VALUES)), "five_level": 0, "lengths": np.zeros((3, N_VALUES, N_VALUES))}


def unit_types(units: list[tuple[bool, list[int], int]]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(three-way?, value counts, multiplicity) of distinct units → the arrays of
    ``agreement.unit_figures``, in a fixed order (the bootstrap draws depend on it)."""
    merged: dict = defaultdict(int)
    for three, counts, n in units:
        merged[(three, tuple(counts))] += n
    profiles, multiplicities, scales = [], [], []
    for (three, counts), n in sorted(merged.items()):
        if not n:
            continue
        profiles.append(metrics.three_way(counts) if three else np.asarray(counts, dtype=float))
        multiplicities.append(n)
        scales.append(3 if three else 5)
    return np.array(profiles), np.array(multiplicities, dtype=float), scales

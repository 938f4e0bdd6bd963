"""Which pairs an export takes, read as a stream of batches.

Every filter that SQL can apply is applied in SQL (tier, ties, flags, empty or
identical sides, strength, judge, annotator, origin, dates), so the selection is one
queryset: streamed with a server-side cursor on PostgreSQL, counted for progress, and
reused by the dataset card's aggregates. Per batch, one query each loads what the
format needs beyond the pair row (agreement, judgments, adjudications, scores,
rubrics); nothing is loaded per row.
"""
import hashlib
import json
import queue
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone

from django.db import connection
from django.db.models import BooleanField, Exists, F, Func, JSONField, OuterRef, QuerySet

from curation.hashing import sha256_hex
from curation.overview import COUNT_NAMES, judge_figures
from curation.models import Adjudication, JudgeConfig, Judgment, Pair, Project, Prompt, Rubric, Score

from .options import EXCLUDING_FLAGS, TIERS, ExportOptions

EMPTY_TEXT_HASH = sha256_hex("")  # response_hash of an empty or whitespace-only text

BASE_FIELDS = (
    "id",
    "tier",
    "label_verdict",
    "label_source",
    "consensus_verdict",
    "consensus_strength",
    "ensemble_mu",
    "origin",
    "prompt_id",
    "prompt__text",
    "prompt__messages",
    "prompt__content_hash",
    "response_a_id",
    "response_b_id",
    "response_a__text",
    "response_b__text",
    "response_a__producer",
    "response_b__producer",
)
CONCORD_FIELDS = (
    "external_id",
    "metadata",
    "flags",
    "ensemble_sigma",
    "prompt__category",
    "prompt__origin",
    "prompt__external_id",
    "prompt__metadata",
    *(
        f"response_{side}__{name}"
        for side in ("a", "b")
        for name in ("producer_kind", "params", "conditioning", "n_tokens", "finish_reason")
    ),
)


class HasAnyFlag(Func):
    """True when a pair's ``flags`` list holds one of the excluding flags. Written per
    database because Django's JSON ``contains`` lookup does not exist on SQLite."""

    output_field = BooleanField()

    def __init__(self, expression, flags: tuple[str, ...] = EXCLUDING_FLAGS):
        if not all(flag.replace("_", "").isalnum() for flag in flags):
            raise ValueError("flags are inlined into SQL and must be plain words")
        self.flags = flags
        super().__init__(expression)

    def as_sql(self, compiler, connection, **extra):
        raise NotImplementedError(f"HasAnyFlag is not written for {connection.vendor}")

    def as_postgresql(self, compiler, connection, **extra):
        words = ", ".join(f"'{flag}'" for flag in self.flags)
        return self.as_sql_template(compiler, connection, f"jsonb_exists_any(%(expressions)s, ARRAY[{words}])")

    def as_sqlite(self, compiler, connection, **extra):
        words = ", ".join(f"'{flag}'" for flag in self.flags)
        return self.as_sql_template(
            compiler, connection, f"EXISTS (SELECT 1 FROM json_each(%(expressions)s) WHERE json_each.value IN ({words}))"
        )

    def as_sql_template(self, compiler, connection, template: str):
        return Func.as_sql(self, compiler, connection, template=template)


def tiers_from(min_tier: str) -> list[str]:
    return list(TIERS[TIERS.index(min_tier) :])


def selected_pairs(project: Project, options: ExportOptions) -> QuerySet[Pair]:
    """The pairs the export takes, before the per-row filters (minimum agreement,
    missing scores or margins), which the dataset card counts separately."""
    pairs = Pair.objects.filter(project=project, tier__in=tiers_from(options.effective_min_tier))
    if options.needs_label:
        pairs = pairs.filter(label_verdict__isnull=False)
        pairs = pairs.exclude(response_a__content_hash=EMPTY_TEXT_HASH).exclude(
            response_b__content_hash=EMPTY_TEXT_HASH
        )
        pairs = pairs.exclude(response_a__content_hash=F("response_b__content_hash"))
    if not options.effective_keep_ties:
        pairs = pairs.exclude(label_verdict=0)
    if not options.effective_keep_flagged:
        pairs = pairs.alias(flagged=HasAnyFlag(F("flags"))).filter(flagged=False)
    if options.min_strength is not None:
        pairs = pairs.filter(consensus_strength__gte=options.min_strength)
    if options.judges:
        judged = Judgment.objects.filter(pair=OuterRef("pk"), judge_config__name__in=options.judges)
        pairs = pairs.filter(Exists(judged))
    if options.annotators:
        judged = Judgment.objects.filter(pair=OuterRef("pk"), annotator__name__in=options.annotators)
        pairs = pairs.filter(Exists(judged))
    if options.origins:
        pairs = pairs.filter(origin__in=options.origins)
    if options.since:
        pairs = pairs.filter(created_at__gte=datetime.combine(options.since, time.min, tzinfo=timezone.utc))
    if options.until:
        end = datetime.combine(options.until + timedelta(days=1), time.min, tzinfo=timezone.utc)
        pairs = pairs.filter(created_at__lt=end)
    return pairs


def estimated_count(project: Project, options: ExportOptions) -> int:
    """How many pairs the export will take, for its progress bar: the selection's
    cheap conditions only (no join), so at most a little above the final count."""
    pairs = Pair.objects.filter(project=project, tier__in=tiers_from(options.effective_min_tier))
    if options.needs_label:
        pairs = pairs.filter(label_verdict__isnull=False)
    if not options.effective_keep_ties:
        pairs = pairs.exclude(label_verdict=0)
    return pairs.count()


def prompts_without_pairs(project: Project) -> QuerySet[Prompt]:
    return Prompt.objects.filter(project=project).exclude(Exists(Pair.objects.filter(prompt=OuterRef("pk"))))


def split_of(prompt_hash: str, *, seed: int, test_fraction: float) -> str:
    """methods.md §5: test when int(sha256(seed ‖ prompt hash)[:8], 16) mod 10⁴ < fraction·10⁴."""
    if test_fraction <= 0:
        return "train"
    digest = hashlib.sha256(f"{seed}{prompt_hash}".encode()).hexdigest()
    return "test" if int(digest[:8], 16) % 10_000 < test_fraction * 10_000 else "train"


# --- the stream ---------------------------------------------------------------------


@dataclass
class Batch:
    """One batch of selected pairs (value dicts) with what was loaded for them.

    On the plain trl path the rows are the cursor's tuples instead, in the order of
    ``positions`` (name → index; JSON columns as text): no dict per row.
    """

    rows: list[dict] | list[tuple]
    # pair → how many of its sources say A, tie, B (JudgmentTally)
    signs: dict[int, list[int]] = field(default_factory=dict)
    judgments: dict[int, list[Judgment]] = field(default_factory=lambda: defaultdict(list))
    adjudications: dict[int, list[Adjudication]] = field(default_factory=lambda: defaultdict(list))
    scores: dict[int, list[Score]] = field(default_factory=lambda: defaultdict(list))
    positions: dict[str, int] | None = None

    def key(self, name: str) -> str | int:
        """How a row is indexed for the column ``name``."""
        return name if self.positions is None else self.positions[name]

    def agreement(self, row: dict) -> float | None:
        """Share of the pair's sources whose 3-way label equals the final one (methods.md §5)."""
        counts = self.signs.get(row["id"])
        label = row["label_verdict"]
        if not counts or label is None:
            return None
        agreeing = counts[0] if label < 0 else counts[2] if label > 0 else counts[1]
        return round(agreeing / sum(counts), 4)


@dataclass(frozen=True)
class Needs:
    """What a format reads beyond the pair row."""

    judgments: bool = False
    adjudications: bool = False
    scores: bool = False
    concord_fields: bool = False


def _json_fields(names: tuple[str, ...]) -> list[str]:
    """The selected names that are JSON columns (the raw cursor returns them as text)."""
    found = []
    for name in names:
        model, *path, last = [Pair, *name.split("__")]
        for step in path:
            model = model._meta.get_field(step).related_model
        if isinstance(model._meta.get_field(last), JSONField):
            found.append(name)
    return found


class JudgmentTally:
    """Reads each batch's judgments once, in one query over the batch's id range (the
    stream comes in id order), and from them counts

    - per pair, its sources (first human records and AI JudgeConfigs' combined
      verdicts) saying A, tie, B — the pair's agreement column;
    - per judge (None: humans), the dataset card's figures (overview.judge_counts,
      summed over the selected pairs).

    The query is plain SQL compiled once: at a million pairs, compiling an ORM query
    per batch costs more than the database's work for it.
    """

    def __init__(self, project: Project):
        self.project_id = project.pk
        self.ai_judges = set(
            JudgeConfig.objects.filter(project=project, kind=JudgeConfig.Kind.AI).values_list("id", flat=True)
        )
        self.counts: dict[int | None, list[int]] = {}
        table = connection.ops.quote_name(Judgment._meta.db_table)
        self.sql = (
            f"SELECT pair_id, judge_config_id, is_human, is_revision, verdict, position_consistent FROM {table} "
            "WHERE project_id = %s AND pair_id >= %s AND pair_id <= %s"
        )

    def fetch(self, cursor, first_id: int, last_id: int) -> list[tuple]:
        """The judgments of pairs first_id..last_id (on any cursor of the connection)."""
        cursor.execute(self.sql, [self.project_id, first_id, last_id])
        return cursor.fetchall()

    def add(self, batch: "Batch", judgments: list[tuple] | None = None) -> None:
        """Count a batch's judgments (fetched here unless the stream read them ahead)."""
        id_at, label_at, consensus_at = batch.key("id"), batch.key("label_verdict"), batch.key("consensus_verdict")
        rows = {row[id_at]: row for row in batch.rows}
        if judgments is None:
            with connection.cursor() as cursor:
                judgments = self.fetch(cursor, batch.rows[0][id_at], batch.rows[-1][id_at])
        counts, signs, ai_judges = self.counts, batch.signs, self.ai_judges
        for pair_id, judge_id, is_human, is_revision, verdict, consistent in judgments:
            row = rows.get(pair_id)
            if row is None or (is_human and is_revision):
                continue  # not selected, or a revision (metrics use first records)
            key = None if is_human else judge_id
            tally = counts.get(key)
            if tally is None:
                tally = counts[key] = [0] * len(COUNT_NAMES)
            tally[0] += 1
            if verdict is None:
                continue
            tally[1] += 1
            verdict_sign = (verdict > 0) - (verdict < 0)
            label, consensus = row[label_at], row[consensus_at]
            if label is not None:
                tally[2] += 1
                tally[3] += verdict_sign == (label > 0) - (label < 0)
            if consensus is not None:
                tally[4] += 1
                tally[5] += verdict_sign == (consensus > 0) - (consensus < 0)
            if consistent is not None:
                tally[6] += 1
                tally[7] += bool(consistent)
            if is_human or judge_id in ai_judges:
                signs.setdefault(pair_id, [0, 0, 0])[verdict_sign + 1] += 1

    def figures(self) -> dict:
        return judge_figures({key: Counter(dict(zip(COUNT_NAMES, tally))) for key, tally in self.counts.items()})


# Planner settings for the stream's cursor only (PostgreSQL; the cursor keeps its plan
# when they are put back). Profiled at a million pairs: the default plan hash-joined
# pairs, prompts and both responses, then sorted the wide rows by id on disk (external
# merge, ~800 MB), and JIT compilation alone took 5 s. Index nested loops from the pair
# primary key give the rows already in id order, with nothing to sort or hash, and
# cost about the same for a thousand pairs as for a million, per pair.
STREAM_SETTINGS = {"enable_hashjoin": "off", "enable_mergejoin": "off", "jit": "off"}


@contextmanager
def _streaming_plan() -> Iterator[None]:
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        names = list(STREAM_SETTINGS)
        cursor.execute("SELECT " + ", ".join("current_setting(%s)" for _ in names), names)
        before = dict(zip(names, cursor.fetchone()))
        for name, value in STREAM_SETTINGS.items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        try:
            yield
        finally:
            for name, value in before.items():
                cursor.execute("SELECT set_config(%s, %s, true)", [name, value])


def stream(pairs: QuerySet[Pair], *, needs: Needs, tally: JudgmentTally, batch_size: int,
           fields: tuple[str, ...] | None = None, tuples: bool = False) -> Iterator[Batch]:
    """The selected pairs in id order and in batches, read through a server-side
    cursor on PostgreSQL.

    The SQL is the ORM's; rows are read from the cursor directly because Django's
    per-row conversion of value rows would cost more than the rest of the export.
    Tried at a million pairs and given up: counting the sources in SQL (a LATERAL
    aggregate per pair, ~10 s more in the database) and the card's per-judge figures
    in one aggregate over the selection (~10 s: it repeats the selection's joins);
    the per-batch range query and the Python count below cost ~3 s together.
    On PostgreSQL the next batch and its judgments are read by a thread while this one
    is written (``_read_ahead``: 19.5 → 13.4 s at a million pairs).

    ``fields``: the row's names when a writer needs fewer than ``BASE_FIELDS`` (the
    pair id first; ``label_verdict`` and ``consensus_verdict`` for the tally).
    ``tuples``: the rows stay the cursor's tuples (``Batch.positions``), for a writer
    that reads them by position and loads nothing more (at a million pairs the dicts
    cost ~0.7 s of the interpreter's time).
    """
    names = fields or BASE_FIELDS + (CONCORD_FIELDS if needs.concord_fields else ())
    json_fields = _json_fields(names)
    sql, params = pairs.order_by("id").values(*names).query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        with _streaming_plan():
            cursor.execute(sql, params)
        # closing(): the reading thread is joined before the cursor closes, however we leave.
        with closing(_read_ahead(cursor, batch_size, tally)) as chunks:
            positions = {name: at for at, name in enumerate(names)} if tuples else None
            for chunk, judgments in chunks:
                if positions is not None:
                    batch = Batch(rows=chunk, positions=positions)
                else:
                    rows = [dict(zip(names, row)) for row in chunk]
                    for row in rows:
                        for name in json_fields:
                            if row[name] is not None:
                                row[name] = json.loads(row[name])
                    batch = Batch(rows=rows)
                    _load(batch, needs)
                tally.add(batch, judgments)
                yield batch


def _read_ahead(cursor, batch_size: int, tally: JudgmentTally) -> Iterator[tuple[list[tuple], list[tuple] | None]]:
    """The cursor's rows in chunks, each with its judgments for the tally (the pair id
    is the first column). On PostgreSQL a thread reads the next chunk and its judgments
    while the caller works on this one, so the server's work and the driver's waits
    overlap the export's Python (psycopg serializes the connection's queries; the
    thread uses the driver's cursors, Django's wrappers belong to the caller's thread).
    Elsewhere (SQLite) a plain loop, judgments left to the tally. The thread is stopped
    and joined however the caller leaves (an error, a closed generator)."""
    if connection.vendor != "postgresql":
        while chunk := cursor.fetchmany(batch_size):
            yield chunk, None
        return
    raw, driver = cursor.cursor, connection.connection
    chunks: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item) -> None:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def fetch() -> None:
        try:  # the driver's errors as Django's, as the caller's own queries raise them
            with connection.wrap_database_errors, driver.cursor() as judgments_cursor:
                while not stop.is_set():
                    chunk = raw.fetchmany(batch_size)
                    judgments = tally.fetch(judgments_cursor, chunk[0][0], chunk[-1][0]) if chunk else None
                    hand_over((chunk, judgments))
                    if not chunk:
                        return
        except BaseException as error:  # raised in the caller's thread
            hand_over(error)

    reader = threading.Thread(target=fetch, name="export-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            item = chunks.get()
            if isinstance(item, BaseException):
                raise item
            if not item[0]:
                return
            yield item
    finally:
        stop.set()
        while reader.is_alive():
            try:
                chunks.get_nowait()
            except queue.Empty:
                reader.join(timeout=0.1)


def _load(batch: Batch, needs: Needs) -> None:
    ids = [row["id"] for row in batch.rows]
    if needs.judgments:
        for judgment in (
            Judgment.objects.filter(pair_id__in=ids)
            .select_related("annotator", "judge_config")
            .order_by("pair_id", "is_revision", "id")
        ):
            batch.judgments[judgment.pair_id].append(judgment)
    if needs.adjudications:
        for adjudication in (
            Adjudication.objects.filter(pair_id__in=ids).select_related("reviewer").order_by("pair_id", "created_at", "id")
        ):
            batch.adjudications[adjudication.pair_id].append(adjudication)
    if needs.scores:
        response_ids = {row["response_a_id"] for row in batch.rows} | {row["response_b_id"] for row in batch.rows}
        for score in Score.objects.filter(response_id__in=response_ids).select_related("judge_config").order_by("id"):
            batch.scores[score.response_id].append(score)


def prompts_with_rubrics(pairs: QuerySet[Pair]) -> QuerySet[Prompt]:
    """The exported pairs' prompts that have rubrics (a concord export carries them)."""
    return Prompt.objects.filter(
        Exists(Rubric.objects.filter(prompt=OuterRef("pk"))), Exists(pairs.filter(prompt=OuterRef("pk")))
    )

"""Which pairs an export takes, read as a stream of batches.

Every filter that SQL can apply is applied in SQL (tier, ties, flags, empty or
identical sides, strength, judge, annotator, origin, dates), so the selection is one
queryset: streamed with a server-side cursor on PostgreSQL, counted for progress, and
reused by the dataset card's aggregates. Per batch, one query each loads what the
format needs beyond the pair row (agreement, judgments, adjudications, scores,
rubrics); nothing is loaded per row.
"""
import hashlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone

from django.db.models import BooleanField, Count, Exists, F, Func, OuterRef, Q, QuerySet

from curation.hashing import sha256_hex
from curation.overview import same_sign_q
from curation.models import Adjudication, JudgeConfig, Judgment, Pair, Project, Prompt, Rubric, Score

from .options import EXCLUDING_FLAGS, TIERS, ExportOptions

EMPTY_TEXT_HASH = sha256_hex("")  # response_hash of an empty or whitespace-only text

BASE_FIELDS = (
    "id",
    "tier",
    "label_verdict",
    "label_source",
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
    """One batch of selected pairs (value dicts) with what was loaded for them."""

    rows: list[dict]
    agreement: dict[int, tuple[int, int]] = field(default_factory=dict)  # pair → (agreeing, sources)
    judgments: dict[int, list[Judgment]] = field(default_factory=lambda: defaultdict(list))
    adjudications: dict[int, list[Adjudication]] = field(default_factory=lambda: defaultdict(list))
    scores: dict[int, list[Score]] = field(default_factory=lambda: defaultdict(list))
    rubrics: dict[int, list[Rubric]] = field(default_factory=lambda: defaultdict(list))


@dataclass(frozen=True)
class Needs:
    """What a format reads beyond the pair row."""

    judgments: bool = False
    adjudications: bool = False
    scores: bool = False
    rubrics: bool = False
    concord_fields: bool = False


def stream(
    pairs: QuerySet[Pair], *, project: Project, needs: Needs, batch_size: int, order: tuple[str, ...] = ("id",)
) -> Iterator[Batch]:
    names = BASE_FIELDS + (CONCORD_FIELDS if needs.concord_fields else ())
    ai_judges = set(
        JudgeConfig.objects.filter(project=project, kind=JudgeConfig.Kind.AI).values_list("id", flat=True)
    )
    rows: list[dict] = []
    for row in pairs.order_by(*order).values(*names).iterator(chunk_size=batch_size):
        rows.append(row)
        if len(rows) >= batch_size:
            yield _load(rows, needs, ai_judges)
            rows = []
    if rows:
        yield _load(rows, needs, ai_judges)


def _load(rows: list[dict], needs: Needs, ai_judges: set[int]) -> Batch:
    batch = Batch(rows=rows)
    ids = [row["id"] for row in rows]
    batch.agreement = pair_agreement(ids, ai_judges)
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
        response_ids = {row["response_a_id"] for row in rows} | {row["response_b_id"] for row in rows}
        for score in Score.objects.filter(response_id__in=response_ids).select_related("judge_config").order_by("id"):
            batch.scores[score.response_id].append(score)
    if needs.rubrics:
        prompt_ids = {row["prompt_id"] for row in rows}
        for rubric in Rubric.objects.filter(prompt_id__in=prompt_ids).order_by("prompt_id", "kind", "version", "id"):
            batch.rubrics[rubric.prompt_id].append(rubric)
    return batch


def pair_agreement(pair_ids: list[int], ai_judges: set[int]) -> dict[int, tuple[int, int]]:
    """Per pair: (sources whose 3-way label equals the final one, sources). Sources are
    the first human records and each AI JudgeConfig's combined verdict (methods.md §5).
    One aggregate query for the whole batch."""
    rows = (
        Judgment.objects.filter(pair_id__in=pair_ids, verdict__isnull=False)
        .filter(Q(is_human=True, is_revision=False) | Q(judge_config_id__in=ai_judges))
        .values("pair_id")
        .annotate(n=Count("id"), agreeing=Count("id", filter=same_sign_q("verdict", "pair__label_verdict")))
        .values_list("pair_id", "agreeing", "n")
        .order_by()
    )
    return {pair_id: (agreeing, n) for pair_id, agreeing, n in rows}


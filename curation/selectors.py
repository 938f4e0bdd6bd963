"""Reads of the curation domain, shared by views, the API and commands."""
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce, Sign, TruncDate, TruncWeek

from . import tallies
from .agreement import (
    aggregate_session,
    agrees_with_gold,
    ai_records,
    chose_longer,
    human_ai_items,
    human_records,
)
from .agreement import counts as agreement_source
from .models import Adjudication, Judgment, Pair, Project, Prompt, RowTally, Rubric
from .permissions import Role, role_at_least


def project_counts(project: Project, *, judgment_kinds: dict[bool, int] | None = None) -> dict:
    """Counts for the project page: prompts, tiers and statuses from the row tallies
    the database keeps (``curation.tallies``: one small query, not a scan of every
    pair), judgments per kind from the agreement counts (caught up first; not a count
    of every judgment: 0.6–1.6 s at 3M). ``judgment_kinds`` (human → count): the
    caller has them already."""
    tally = tallies.counts(project.pk)
    kinds = judgment_kinds if judgment_kinds is not None else agreement_source(project).judgment_rows()
    return {
        "prompts": tally.prompts,
        "pairs": tally.pairs,
        "tiers": {tier: tally.tiers.get(tier, 0) for tier in Pair.Tier.values},
        "statuses": {status: tally.statuses.get(status, 0) for status in Pair.Status.values},
        "human_judgments": kinds.get(True, 0),
        "ai_judgments": kinds.get(False, 0),
        "judgments": sum(kinds.values()),
    }


def project_list_with_counts(projects: QuerySet[Project]) -> QuerySet[Project]:
    """Projects with their number of pairs, from the row tallies (not a join of every pair)."""
    n_pairs = (
        RowTally.objects.filter(project_id=OuterRef("pk"), kind=RowTally.Kind.PAIR)
        .order_by()
        .values("project_id")
        .annotate(total=Sum("n"))
        .values("total")
    )
    return projects.annotate(n_pairs=Coalesce(Subquery(n_pairs), 0)).order_by("name")


def pair_page(
    *, project: Project, pair_filters: dict, after: int | None, limit: int = 50, conditions: list[Q] = ()
) -> list[Pair]:
    """One page of pairs in id order (keyset pagination: fast at any depth)."""
    queryset = (
        Pair.objects.filter(*conditions, project=project, **pair_filters)
        .select_related("prompt")
        .only(
            "id", "tier", "status", "label_verdict", "label_source", "routing_score",
            "n_human_judgments", "created_at", "prompt__text", "prompt__category",
        )
        .order_by("id")
    )
    if after:
        queryset = queryset.filter(id__gt=after)
    with aggregate_session():  # the filters behind dashboard figures are aggregates too
        return list(queryset[:limit])


def pair_detail(*, project: Project, pair_id: int, viewer, role: str) -> tuple[Pair, list[Judgment]]:
    """A pair with the judgments the viewer may see: annotators see only their own."""
    judgments = Judgment.objects.select_related("annotator", "judge_config", "rubric").order_by(
        "is_human", "created_at", "id"
    )
    if not role_at_least(role, Role.REVIEWER):
        judgments = judgments.filter(annotator__user=viewer)
    pair = (
        Pair.objects.select_related("prompt", "response_a", "response_b")
        .prefetch_related(Prefetch("judgments", queryset=judgments, to_attr="visible_judgments"))
        .get(project=project, id=pair_id)
    )
    return pair, pair.visible_judgments


# --- the REST API (issue 8) -------------------------------------------------------


def api_prompts(*, project: Project, filters: dict) -> QuerySet[Prompt]:
    return Prompt.objects.filter(project=project, **{k: v for k, v in filters.items() if v})


def api_pairs(*, project: Project, filters: dict) -> QuerySet[Pair]:
    pairs = Pair.objects.filter(project=project).select_related("prompt", "response_a", "response_b")
    for key in ("tier", "status"):
        if filters.get(key):
            pairs = pairs.filter(**{key: filters[key]})
    if filters.get("category"):
        pairs = pairs.filter(prompt__category=filters["category"])
    if filters.get("has_gold") is not None:
        pairs = pairs.filter(gold_verdict__isnull=not filters["has_gold"])
    if filters.get("routed") is True:
        pairs = pairs.filter(status=Pair.Status.ROUTED)
    elif filters.get("routed") is False:
        pairs = pairs.exclude(status=Pair.Status.ROUTED)
    return pairs


def api_judgments(*, project: Project, viewer, role: str, filters: dict) -> QuerySet[Judgment]:
    """Judgments the viewer may read: reviewers and admins all, annotators their own."""
    judgments = Judgment.objects.filter(project=project).select_related("annotator", "judge_config")
    if not role_at_least(role, Role.REVIEWER):
        judgments = judgments.filter(annotator__user=viewer)
    if filters.get("pair"):
        judgments = judgments.filter(pair_id=filters["pair"])
    if filters.get("kind"):
        judgments = judgments.filter(is_human=filters["kind"] == "human")
    if filters.get("annotator"):
        judgments = judgments.filter(annotator__name=filters["annotator"])
    if filters.get("judge"):
        judgments = judgments.filter(judge_config__name=filters["judge"])
    if filters.get("since"):
        judgments = judgments.filter(created_at__gte=filters["since"])
    return judgments

# --- curation (issue 7): the pairs behind dashboard figures, the adjudication queue -----


def adjudication_queue(project: Project) -> QuerySet[Pair]:
    """Pairs a reviewer should decide, annotated with ``humans_disagree``:

    - humans disagree: at least two first human records, not all of one sign, no
      consensus, and no more human judgments expected (the quorum is reached);
    - humans vs AI: a decisive human consensus and an AI judge preferring the other
      side (a tie on either side is not a conflict worth a reviewer's time: the
      consensus already holds at quorum).

    Pairs with any adjudication (a decision, a gold mark, an imported expert label)
    have left the queue for good.
    """
    humans_on_pair = human_records(project).filter(pair=OuterRef("pk"))
    # Two records of different signs: some A and some not-A, or some tie and some B.
    # Correlated EXISTS, evaluated only for pairs that pass the cheap column filters.
    disagreeing = (
        Exists(humans_on_pair.filter(verdict__lt=0)) & Exists(humans_on_pair.filter(verdict__gte=0))
    ) | (Exists(humans_on_pair.filter(verdict=0)) & Exists(humans_on_pair.filter(verdict__gt=0)))
    conflicting_ai = (
        ai_records(project)
        .filter(pair=OuterRef("pk"), parse_ok=True, verdict__isnull=False)
        .annotate(verdict_sign=Sign("verdict"))
        .filter(verdict_sign=-Sign(OuterRef("consensus_verdict")))
        .exclude(verdict=0)
    )
    humans_disagree = Q(consensus_verdict__isnull=True, n_human_judgments__gte=max(2, project.effective_quorum)) & Q(
        disagreeing
    )
    return (
        Pair.objects.filter(project=project)
        .exclude(Exists(Adjudication.objects.filter(pair=OuterRef("pk"))))
        .filter(humans_disagree | (Q(consensus_verdict__isnull=False) & Exists(conflicting_ai)))
        .annotate(humans_disagree=ExpressionWrapper(humans_disagree, output_field=BooleanField()))
    )


def adjudication_page(
    *, project: Project, after: int | None, limit: int = 25, pair_id: int | None = None
) -> list[Pair]:
    """One page of the queue (or the one pair ``pair_id``, if still queued) with every
    pair's first human records and AI verdicts (two queries whatever the page holds)."""
    judgments = (
        Judgment.objects.filter(is_revision=False)
        .select_related("annotator", "judge_config")
        .only(
            "id", "pair_id", "is_human", "verdict", "strength_known", "confidence", "rationale", "parse_ok",
            "annotator__name", "judge_config__name", "judge_config__kind",
        )
        .order_by("-is_human", "id")
    )
    queryset = (
        adjudication_queue(project)
        .select_related("prompt", "response_a", "response_b")
        .prefetch_related(Prefetch("judgments", queryset=judgments, to_attr="queue_judgments"))
        .order_by("id")
    )
    if after:
        queryset = queryset.filter(id__gt=after)
    if pair_id is not None:
        queryset = queryset.filter(id=pair_id)
    return list(queryset[:limit])


def adjudications_of(pair: Pair) -> QuerySet[Adjudication]:
    return Adjudication.objects.filter(pair=pair).select_related("reviewer").order_by("-created_at", "-id")


def pair_conditions(project: Project, data: dict) -> list[Q]:
    """Filters of the pair list, so every dashboard figure links to the pairs behind it.

    ``data`` holds cleaned filter values (``PairFilterForm``): tier, status, category,
    label_source, judge, human and ai (a confusion cell: values on the comparison's
    scale), annotator, queue, gold, wrong, inconsistent, longer_wins, week.
    """
    conditions = [Q(**{key: data[key]}) for key in ("tier", "status", "label_source") if data.get(key)]
    if data.get("category") is not None and data.get("category") != "":
        conditions.append(Q(prompt__category=data["category"]))
    if data.get("category_none"):
        conditions.append(Q(prompt__category=""))
    judge, annotator = data.get("judge"), data.get("annotator")
    week = data.get("week")
    if judge and (data.get("human") is not None or data.get("ai") is not None):
        items = human_ai_items(project).filter(judge=judge)
        if data.get("human") is not None:
            items = items.filter(h=data["human"])
        if data.get("ai") is not None:
            items = items.filter(a=data["ai"])
        conditions.append(Q(id__in=items.values("pair_id")))
    if week:
        # As in the figures: the week of the pair's last first human record (two or
        # more of them for humans with each other; not assisted against a judge).
        last = (
            human_records(project, include_assisted=not judge)
            .values("pair_id")
            .annotate(m=Count("id"), last=TruncDate(TruncWeek(Max("created_at"))))
            .filter(m__gte=1 if judge else 2, last=week)
            .values("pair_id")
        )
        conditions.append(Q(id__in=last))
    if judge:
        theirs = Judgment.objects.filter(pair=OuterRef("pk"), judge_config_id=judge)
        if data.get("wrong"):
            theirs = theirs.filter(parse_ok=True, verdict__isnull=False).exclude(agrees_with_gold())
            conditions.append(Q(gold_verdict__isnull=False) & ~Q(gold_verdict=0))
        if data.get("inconsistent"):
            theirs = theirs.filter(position_consistent=False)
        if data.get("longer_wins"):
            theirs = theirs.filter(chose_longer())
        conditions.append(Exists(theirs))
    if annotator or (data.get("longer_wins") and not judge):
        theirs = human_records(project).filter(pair=OuterRef("pk"))
        if annotator:
            theirs = theirs.filter(annotator_id=annotator)
        if annotator and data.get("wrong"):
            theirs = theirs.exclude(agrees_with_gold())
            conditions.append(Q(gold_verdict__isnull=False) & ~Q(gold_verdict=0))
        if data.get("longer_wins") and not judge:
            theirs = theirs.filter(chose_longer())
        conditions.append(Exists(theirs))
    if data.get("gold"):
        conditions.append(Q(gold_verdict__isnull=False))
    queue = data.get("queue")
    if queue:
        queued = adjudication_queue(project)
        if queue == "disagree":
            queued = queued.filter(humans_disagree=True)
        elif queue == "conflict":
            queued = queued.filter(humans_disagree=False)
        conditions.append(Q(id__in=queued.values("id")))
    return conditions


# --- AI judges (issue 5): rule sets with the judgments they came from -----------------


def ruleset_versions(project: Project) -> list[Rubric]:
    return list(
        Rubric.objects.filter(project=project, prompt__isnull=True, kind=Rubric.Kind.RULESET)
        .only("id", "version", "origin", "created_at", "parent_id")
        .order_by("-version")
    )


def ruleset_with_sources(ruleset: Rubric) -> list[dict]:
    """The rules of a rule set, each with its source judgments (pair, who, rationale),
    fetched in one query for all rules."""
    rules = [item if isinstance(item, dict) else {"text": str(item)} for item in ruleset.items or []]
    ids = {int(i) for rule in rules for i in rule.get("sources") or [] if str(i).isdigit()}
    sources = {
        row["id"]: row
        for row in Judgment.objects.filter(project_id=ruleset.project_id, id__in=ids).values(
            "id", "pair_id", "annotator__name", "judge_config__name", "rationale", "verdict"
        )
    }
    return [
        {
            **rule,
            "source_judgments": [sources[int(i)] for i in rule.get("sources") or [] if str(i).isdigit() and int(i) in sources],
        }
        for rule in rules
    ]

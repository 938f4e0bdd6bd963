"""Writes to the curation domain. Other apps change curation data only through here."""
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import models, transaction
from django.utils.text import slugify

from .db import update_rows
from .consensus import AIRecord, HumanRecord, pair_state
from .hashing import pair_hash, prompt_hash, response_hash
from .models import (
    Adjudication,
    Annotator,
    AutoAcceptStratum,
    JudgeConfig,
    Judgment,
    Membership,
    Pair,
    Project,
    Prompt,
    Response,
    Skill,
)

DEFAULT_JUDGES = [
    ("pairwise-checklist", JudgeConfig.Method.PAIRWISE, {"swap": True, "n_samples": 1}),
    ("rubric-then-judge", JudgeConfig.Method.RUBRIC, {"swap": True, "single_call": False}),
    ("pointwise-aspects", JudgeConfig.Method.ASPECTS, {}),
    ("ensemble", JudgeConfig.Method.ENSEMBLE, {"members": ["pairwise-checklist", "rubric-then-judge", "pointwise-aspects"]}),
    ("cdr", JudgeConfig.Method.CDR, {"min_margin": 0.0}),
]

REFRESH_CHUNK = 2000


def params_hash(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def project_unique_slug(name: str) -> str:
    base = slugify(name)[:90] or "project"
    slug, n = base, 2
    while Project.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def project_create(*, name: str, slug: str | None = None, created_by=None, **fields) -> Project:
    """A project with its creator as admin and the default AI judges."""
    project = Project.objects.create(
        name=name, slug=slug or project_unique_slug(name), created_by=created_by, **fields
    )
    if created_by is not None:
        Membership.objects.create(project=project, user=created_by, role=Membership.Role.ADMIN)
    judge_configs_ensure_defaults(project=project)
    return project


def judge_configs_ensure_defaults(*, project: Project) -> None:
    model = project.default_model or settings.CONCORD_MODEL_NAME
    backend = settings.CONCORD_BACKEND
    for name, method, params in DEFAULT_JUDGES:
        JudgeConfig.objects.get_or_create(
            project=project,
            name=name,
            defaults={
                "kind": JudgeConfig.Kind.AI,
                "method": method,
                "backend": backend,
                "model": model,
                "template_version": "1",
                "params": params,
                "params_hash": params_hash(params),
            },
        )


def membership_set(*, project: Project, user, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


def annotator_for_user(*, user: AbstractBaseUser) -> Annotator:
    """The annotator identity of an app user, created on first use."""
    try:
        return user.annotator  # type: ignore[attr-defined]
    except Annotator.DoesNotExist:
        pass
    name = user.get_username()
    if Annotator.objects.filter(name=name).exclude(user=user).exists():
        name = f"{name}#{user.pk}"
    annotator, _ = Annotator.objects.get_or_create(name=name, defaults={"user": user, "source": "app"})
    if annotator.user_id is None:
        annotator.user = user
        annotator.save(update_fields=["user"])
    return annotator


REFRESH_FIELDS = [
    "gold_verdict",
    "gold_source",
    "tier",
    "label_verdict",
    "label_source",
    "consensus_verdict",
    "consensus_strength",
    "n_human_judgments",
]


def pairs_refresh(*, pair_ids: Iterable[int]) -> int:
    """Recompute consensus, tier and label of the given pairs from their judgments and
    adjudications (methods.md §4.1–4.2). Returns how many pairs changed.

    A fixed number of queries per chunk of pairs, whatever their number of judgments.
    """
    ids = sorted(set(pair_ids))
    changed = 0
    for start in range(0, len(ids), REFRESH_CHUNK):
        changed += _refresh_chunk(ids[start : start + REFRESH_CHUNK])
    return changed


def _refresh_chunk(ids: list[int]) -> int:
    pairs = list(
        Pair.objects.filter(id__in=ids)
        .select_related("project")
        .only(*REFRESH_FIELDS, "flags", "project", "prompt__category")
        .select_related("prompt")
    )
    if not pairs:
        return 0
    humans: dict[int, list[HumanRecord]] = defaultdict(list)
    ai: dict[int, list[AIRecord]] = defaultdict(list)
    rows = Judgment.objects.filter(pair_id__in=ids).values_list(
        "pair_id",
        "is_human",
        "annotator_id",
        "is_revision",
        "verdict",
        "judge_config_id",
        "judge_config__kind",
        "judge_config__model",
        "confidence",
        "position_consistent",
    )
    for pair_id, is_human, annotator_id, is_revision, verdict, jc_id, kind, model, confidence, consistent in rows:
        if is_human:
            if not is_revision and verdict is not None:
                humans[pair_id].append(HumanRecord(annotator_id=annotator_id, verdict=verdict))
        else:
            ai[pair_id].append(
                AIRecord(
                    judge_config_id=jc_id,
                    verdict=verdict,
                    kind=kind,
                    model=model,
                    confidence=confidence,
                    position_consistent=consistent,
                )
            )
    adjudications: dict[int, tuple[int, str, str]] = {}
    for pair_id, verdict, source, detail in (
        Adjudication.objects.filter(pair_id__in=ids).order_by("pair_id", "-created_at", "-id").values_list(
            "pair_id", "verdict", "source", "source_detail"
        )
    ):
        adjudications.setdefault(pair_id, (verdict, source, detail))
    project_ids = {p.project_id for p in pairs}
    strata: dict[tuple[int, str], set[int]] = defaultdict(set)
    for project_id, category, judge_id in AutoAcceptStratum.objects.filter(
        project_id__in=project_ids, active=True
    ).values_list("project_id", "category", "judge_config_id"):
        strata[(project_id, category)].add(judge_id)

    to_update: list[tuple] = []
    for pair in pairs:
        adjudication = adjudications.get(pair.id)
        state = pair_state(
            humans=humans[pair.id],
            ai=ai[pair.id],
            adjudication=adjudication[:2] if adjudication else None,
            quorum=pair.project.effective_quorum,
            min_confidence=pair.project.silver_confidence,
            flags=pair.flags,
            auto_accepted_judges=strata.get((pair.project_id, pair.prompt.category)),
        )
        new = {
            # A known answer for gold checks and judge accuracy: the final adjudication.
            "gold_verdict": adjudication[0] if adjudication else None,
            "gold_source": (adjudication[2] or adjudication[1])[:100] if adjudication else "",
            "tier": state.tier,
            "label_verdict": state.label_verdict,
            "label_source": state.label_source,
            "consensus_verdict": state.consensus_verdict,
            "consensus_strength": state.consensus_strength,
            "n_human_judgments": state.n_human_judgments,
        }
        if any(getattr(pair, key) != value for key, value in new.items()):
            for key, value in new.items():
                setattr(pair, key, value)
            to_update.append((pair.id, *(new[key] for key in REFRESH_FIELDS)))
    update_rows(Pair, REFRESH_FIELDS, to_update)
    return len(to_update)


# --- human judgments (shared by the review page and the API) -----------------------


class JudgmentRejected(Exception):
    """A human judgment that cannot be recorded; ``field`` names the input at fault."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


def _validate_human_input(*, project: Project, verdict, aspects, checklist_answers, rationale) -> None:
    if isinstance(verdict, bool) or not isinstance(verdict, int) or not -2 <= verdict <= 2:
        raise JudgmentRejected(f"verdict must be an integer in -2..2, got {verdict!r}", "verdict")
    if project.verdict_scale == Project.Scale.THREE and abs(verdict) == 2:
        raise JudgmentRejected("this project uses a three-level scale: verdict must be -1, 0 or 1", "verdict")
    for aspect, score in (aspects or {}).items():
        if aspect not in project.aspects:
            raise JudgmentRejected(f"unknown aspect {aspect!r}; this project has {', '.join(project.aspects)}", "aspects")
        if isinstance(score, bool) or not isinstance(score, int) or not -2 <= score <= 2:
            raise JudgmentRejected(f"aspect {aspect} must be an integer in -2..2, got {score!r}", "aspects")
    for item, answer in (checklist_answers or {}).items():
        if not isinstance(answer, bool):
            raise JudgmentRejected(f"checklist item {item!r} must be answered true or false", "checklist_answers")
    if project.rationale_required and not (rationale or "").strip():
        raise JudgmentRejected("this project asks for a rationale with every judgment", "rationale")


@transaction.atomic
def judgment_record_human(
    *,
    pair: Pair,
    annotator: Annotator,
    verdict: int,
    shown_order: str = "",
    mode: str = "",
    rationale: str = "",
    aspects: dict | None = None,
    checklist_answers: dict | None = None,
    time_spent_ms: int | None = None,
    lease_held: bool = False,
    is_revision: bool = False,
    revises: Judgment | None = None,
    used_assistance: bool = False,
    context: str = "",
) -> Judgment:
    """Record one human judgment in stored orientation and refresh the pair.

    Rules, the same for the review page and the API: the verdict and aspects are on
    the project's scale; a rationale when the project asks for one; one judgment per
    annotator per pair; and no pair gets more first human judgments than the overlap.
    ``lease_held`` says the annotator holds a lease on the pair, whose slot is then
    turned into the judgment (the queue reserved it already).
    """
    project = pair.project
    _validate_human_input(
        project=project, verdict=verdict, aspects=aspects, checklist_answers=checklist_answers, rationale=rationale
    )
    locked = Pair.objects.select_for_update().only("id", "n_human_judgments", "n_active_leases").get(pk=pair.pk)
    exists = Judgment.objects.filter(pair=pair, annotator=annotator, is_revision=is_revision).exists()
    if exists:
        raise JudgmentRejected("this annotator has already judged this pair", "pair")
    if not is_revision:
        taken = locked.n_human_judgments + locked.n_active_leases - (1 if lease_held else 0)
        if taken >= project.overlap:
            raise JudgmentRejected(
                f"this pair already has the {project.overlap} human judgment(s) the project asks for", "pair"
            )
    judgment = Judgment.objects.create(
        project=project,
        pair=pair,
        annotator=annotator,
        is_human=True,
        verdict=verdict,
        shown_order=shown_order,
        mode=mode,
        rationale=rationale or "",
        aspects=aspects or {},
        checklist_answers=checklist_answers or {},
        time_spent_ms=time_spent_ms,
        is_revision=is_revision,
        revises=revises,
        used_assistance=used_assistance,
        context=context,
    )
    if lease_held:
        Pair.objects.filter(pk=pair.pk, n_active_leases__gt=0).update(n_active_leases=models.F("n_active_leases") - 1)
    pairs_refresh(pair_ids=[pair.pk])
    return judgment


# --- issue 4: generation writes (prompts, responses, pairs, construction intents) ---
# Called by generation jobs. Each is idempotent on the model's unique key, so a
# retried or duplicated job item finds the row it made before instead of a second one.


@transaction.atomic
def prompt_add(
    *,
    project: Project,
    text: str,
    origin: str,
    messages: list[dict] | None = None,
    parent: Prompt | None = None,
    metadata: dict | None = None,
    category: str = "",
    generation_job=None,
) -> tuple[Prompt, bool]:
    """A prompt made by a synthesis method; an existing prompt with the same content is returned as is."""
    return Prompt.objects.get_or_create(
        **{"project": project, "content_hash": prompt_hash(text, messages)},
        defaults={
            "text": text,
            "messages": messages,
            "origin": origin,
            "parent": parent,
            "metadata": metadata or {},
            "category": category,
            "generation_job": generation_job,
        },
    )


@transaction.atomic
def prompt_metadata_merge(*, prompt: Prompt, values: dict) -> Prompt:
    """Merge keys into a prompt's metadata (the row is locked, so concurrent merges keep both)."""
    locked = Prompt.objects.select_for_update().get(pk=prompt.pk)
    locked.metadata = {**(locked.metadata or {}), **values}
    locked.save(update_fields=["metadata"])
    prompt.metadata = locked.metadata
    return prompt


@transaction.atomic
def response_add(
    *,
    prompt: Prompt,
    text: str,
    producer: str,
    producer_kind: str = Response.ProducerKind.MODEL,
    params: dict | None = None,
    conditioning: dict | None = None,
    n_tokens: int | None = None,
    finish_reason: str = "",
    llm_call=None,
    parent_response: Response | None = None,
    generation_job=None,
) -> tuple[Response, bool]:
    """A generated response; the same whitespace-normalised text on the same prompt is one response."""
    return Response.objects.get_or_create(
        **{"prompt": prompt, "content_hash": response_hash(text)},
        defaults={
            "text": text,
            "producer": producer[:300],
            "producer_kind": producer_kind,
            "params": params or {},
            "conditioning": conditioning or {},
            "n_chars": len(text),
            "n_tokens": n_tokens,
            "finish_reason": finish_reason[:30],
            "llm_call": llm_call,
            "parent_response": parent_response,
            "generation_job": generation_job,
        },
    )


@transaction.atomic
def pair_add(
    *,
    prompt: Prompt,
    first: Response,
    second: Response,
    origin: str,
    swap: bool,
    metadata: dict | None = None,
    generation_job=None,
) -> tuple[Pair, bool]:
    """A pair of two responses to one prompt. ``swap`` (a seeded coin) puts ``second``
    in slot A, so A is never systematically the first or the stronger side. The pair
    key is side-independent: (x, y) and (y, x) are one pair."""
    if first.pk == second.pk:
        raise ValueError("a pair needs two different responses")
    a, b = (second, first) if swap else (first, second)
    return Pair.objects.get_or_create(
        **{
            "project_id": prompt.project_id,
            "content_hash": pair_hash(prompt.content_hash, first.content_hash, second.content_hash),
        },
        defaults={
            "prompt": prompt,
            "response_a": a,
            "response_b": b,
            "origin": origin,
            "metadata": metadata or {},
            "generation_job": generation_job,
        },
    )


def judge_config_construction(*, project: Project, name: str, params: dict | None = None) -> JudgeConfig:
    """The construction-intent judge of a generation method (e.g. ``rmboost-intent``):
    its judgments are what the method aimed for, stored as AI, never as human."""
    judge, _ = JudgeConfig.objects.get_or_create(
        project=project,
        name=name,
        defaults={
            "kind": JudgeConfig.Kind.CONSTRUCTION,
            "method": JudgeConfig.Method.CONSTRUCTION,
            "params": params or {},
            "params_hash": params_hash(params or {}),
        },
    )
    return judge


@transaction.atomic
def judgment_record_construction(
    *,
    pair: Pair,
    judge_config: JudgeConfig,
    verdict: int,
    rationale: str = "",
    runs: list | None = None,
    llm_calls: Iterable = (),
    generation_job=None,
) -> tuple[Judgment, bool]:
    """A construction intent as a Judgment (one per pair and judge config)."""
    if not -2 <= verdict <= 2:
        raise ValueError(f"verdict must be in -2..2, got {verdict}")
    judgment, created = Judgment.objects.get_or_create(
        **{"pair": pair, "judge_config": judge_config},
        defaults={
            "project_id": pair.project_id,
            "is_human": False,
            "verdict": verdict,
            "rationale": rationale,
            "runs": runs or [],
            "mode": "",
            "generation_job": generation_job,
        },
    )
    if created:
        judgment.llm_calls.add(*llm_calls)
    return judgment, created


@transaction.atomic
def skill_add(*, project: Project, name: str, definition: str, source: str, source_prompts: Iterable = ()) -> tuple[Skill, bool]:
    skill, created = Skill.objects.get_or_create(
        project=project, name=name[:200], defaults={"definition": definition, "source": source[:50]}
    )
    skill.source_prompts.add(*source_prompts)
    return skill, created


def pairs_added(*, pair_ids: Iterable[int]) -> None:
    """Hook called after a generation job item creates pairs (or construction judgments):
    recompute their tiers and labels. The curation issue adds routing here."""
    pairs_refresh(pair_ids=pair_ids)

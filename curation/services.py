"""Writes to the curation domain. Other apps change curation data only through here."""
import functools
import hashlib
import heapq
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, connections, models, transaction
from django.utils import timezone
from django.utils.text import slugify

from . import agreement_counts, metrics
from .agreement import aggregate_session, annotator_gold_answers, stratum_unit_types
from .broker import BrokerUnreachable, broker_check, broker_connection, safe_url
from .consensus import (
    AIRecord,
    HumanRecord,
    annotator_weight,
    pair_state,
    status_after_refresh,
)
from .db import update_rows
from .hashing import pair_hash, prompt_hash, response_hash
from .models import (
    Adjudication,
    Annotator,
    AutoAcceptStratum,
    ExportJob,
    JobState,
    JudgeConfig,
    Judgment,
    Membership,
    Pair,
    Project,
    Prompt,
    Response,
    Rubric,
    Score,
    Skill,
)
from .routing import (
    PairEvidence,
    gold_pairs_per_category,
    in_audit_sample,
    pair_evidence,
    routing_score,
    routing_weights,
)
from .selectors import adjudication_queue

# The five AI judges every project starts with (methods.md §2; docs/judges.md). Judging
# decoding default: temperature 0, 1024 new tokens (a job's max_new_tokens overrides).
DEFAULT_JUDGES = [
    ("pairwise-checklist", JudgeConfig.Method.PAIRWISE, {"swap": True, "n_samples": 1, "max_new_tokens": 1024}),
    ("rubric-then-judge", JudgeConfig.Method.RUBRIC, {"swap": True, "single_call": False, "max_new_tokens": 1024}),
    ("pointwise-aspects", JudgeConfig.Method.ASPECTS, {"t_tie": 0.0, "t_much": 1.0, "max_new_tokens": 256}),
    ("ensemble", JudgeConfig.Method.ENSEMBLE, {"members": [], "min_members": 3}),
    # strong = weak = the project's model until a base model is configured (docs/judges.md).
    ("cdr", JudgeConfig.Method.CDR, {"strong_model": "", "weak_model": "", "min_margin": 0.0, "t_tie": 0.0}),
]

REFRESH_CHUNK = 2000

logger = logging.getLogger(__name__)


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
    "status",
]


def pairs_refresh(*, pair_ids: Iterable[int], mark_stale: bool = True) -> int:
    """Recompute consensus, tier and label of the given pairs from their judgments and
    adjudications (methods.md §4.1–4.2), and the status that follows from the tier
    (``consensus.status_after_refresh``). Returns how many pairs changed.

    A fixed number of queries per chunk of pairs, whatever their number of judgments.
    Pairs whose counted fields changed are marked stale for the agreement counts,
    unless ``mark_stale`` is false: the caller catches these pairs up itself, in the
    same transaction (``_refresh_and_count``).
    """
    ids = sorted(set(pair_ids))
    changed = 0
    for start in range(0, len(ids), REFRESH_CHUNK):
        changed += _refresh_chunk(ids[start : start + REFRESH_CHUNK], mark_stale)
    return changed


def _refresh_and_count(pair_id: int) -> None:
    """Refresh a pair whose human judgments changed and catch its agreement counts up
    at once, in the caller's transaction: both happen or neither, so the stale mark
    (an UPDATE the catch-up would clear again) is not written."""
    pairs_refresh(pair_ids=[pair_id], mark_stale=False)
    agreement_counts.catch_up(pair_ids=[pair_id], changed=True)


def _annotator_weights(pairs: list[Pair], humans: dict[int, list[HumanRecord]]) -> dict[int, dict[int, float]]:
    """Per project using ``gold_accuracy`` consensus, each annotator's weight (one query)."""
    weighted = {p.project_id for p in pairs if p.project.consensus_weighting == Project.ConsensusWeighting.GOLD_ACCURACY}
    if not weighted:
        return {}
    annotator_ids = {r.annotator_id for p in pairs if p.project_id in weighted for r in humans[p.id]}
    answers = annotator_gold_answers(annotator_ids=annotator_ids, project_ids=weighted)
    return {
        project_id: {a: annotator_weight(*answers.get((project_id, a), (0, 0))) for a in annotator_ids}
        for project_id in weighted
    }


def _refresh_chunk(ids: list[int], mark_stale: bool = True) -> int:
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
    weights = _annotator_weights(pairs, humans)
    strata: dict[tuple[int, str], set[int]] = defaultdict(set)
    for project_id, category, judge_id in AutoAcceptStratum.objects.filter(
        project_id__in=project_ids, active=True
    ).values_list("project_id", "category", "judge_config_id"):
        strata[(project_id, category)].add(judge_id)

    to_update: list[tuple] = []
    counted_changed: list[int] = []
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
            weights=weights.get(pair.project_id),
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
            "status": status_after_refresh(
                pair.status, state.tier, n_human=state.n_human_judgments, overlap=pair.project.overlap
            ),
        }
        if any(getattr(pair, key) != new[key] for key in ("gold_verdict", "consensus_verdict", "n_human_judgments")):
            counted_changed.append(pair.id)
        if any(getattr(pair, key) != value for key, value in new.items()):
            for key, value in new.items():
                setattr(pair, key, value)
            to_update.append((pair.id, *(new[key] for key in REFRESH_FIELDS)))
    update_rows(Pair, REFRESH_FIELDS, to_update)
    if mark_stale:
        agreement_counts.mark_changed(counted_changed)  # the agreement counts read these fields
    return len(to_update)


# --- human judgments (shared by the review page and the API) -----------------------


class JudgmentRejected(Exception):
    """A human judgment that cannot be recorded; ``field`` names the input at fault."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


# What an annotator can flag on a pair besides the verdict (stored in Judgment.flags).
HUMAN_FLAGS = {
    "both_bad": "Both responses are bad",
    "harmful": "Harmful content",
    "broken_prompt": "Broken prompt",
}
CHECKLIST_SIDES = ("A", "B")


def _valid_checklist_answer(answer) -> bool:
    """True/false for the pair, or per side: {"A": bool, "B": bool} (either side may be missing)."""
    if isinstance(answer, bool):
        return True
    return (
        isinstance(answer, dict)
        and bool(answer)
        and set(answer) <= set(CHECKLIST_SIDES)
        and all(isinstance(value, bool) for value in answer.values())
    )


def _validate_human_input(*, project: Project, verdict, aspects, checklist_answers, rationale, flags=None) -> None:
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
        if not _valid_checklist_answer(answer):
            raise JudgmentRejected(
                f"checklist item {item!r} must be answered true or false, or per side as {{\"A\": bool, \"B\": bool}}",
                "checklist_answers",
            )
    unknown = [flag for flag in flags or [] if flag not in HUMAN_FLAGS]
    if unknown:
        raise JudgmentRejected(f"unknown flag {unknown[0]!r}; flags are {', '.join(HUMAN_FLAGS)}", "flags")
    if project.rationale_required and not (rationale or "").strip():
        raise JudgmentRejected("this project asks for a rationale with every judgment", "rationale")


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
    flags: list[str] | None = None,
    rubric: Rubric | None = None,
    gold_check: bool = False,
    savepoint: bool = True,
) -> Judgment:
    """Record one human judgment in stored orientation and refresh the pair.

    Rules, the same for the review page and the API: the verdict and aspects are on
    the project's scale; a rationale when the project asks for one; one judgment per
    annotator per pair; and no pair gets more first human judgments than the overlap.
    ``lease_held`` says the annotator holds a lease on the pair, whose slot is then
    turned into the judgment (the queue reserved it already). ``gold_check`` marks a
    known-answer check handed out by the queue: it takes no overlap slot.

    ``savepoint=False`` is for a caller that holds a transaction and lets it roll back
    on any error (the queue's submit): every refusal is raised before the first write,
    so no savepoint is needed, and the two queries of one are spared.
    """
    with transaction.atomic(savepoint=savepoint):
        project = pair.project
        _validate_human_input(
            project=project,
            verdict=verdict,
            aspects=aspects,
            checklist_answers=checklist_answers,
            rationale=rationale,
            flags=flags,
        )
        locked = Pair.objects.select_for_update().only("id", "n_human_judgments", "n_active_leases").get(pk=pair.pk)
        exists = Judgment.objects.filter(pair=pair, annotator=annotator, is_revision=is_revision).exists()
        if exists:
            raise JudgmentRejected("this annotator has already judged this pair", "pair")
        if not is_revision and not gold_check:
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
            flags=list(flags or []),
            rubric=rubric,
        )
        if lease_held:
            Pair.objects.filter(pk=pair.pk, n_active_leases__gt=0).update(n_active_leases=models.F("n_active_leases") - 1)
        _refresh_and_count(pair.pk)
        return judgment


# --- exports (issue 8) ------------------------------------------------------------


def export_directory(job: ExportJob) -> Path:
    return Path(settings.CONCORD_EXPORT_DIR) / job.project.slug / f"export-{job.pk}"


def export_start(*, project: Project, options: dict, user=None) -> ExportJob:
    """Validate the options (raises ExportError naming the field), check the broker,
    record the job and enqueue it once the transaction commits.

    A broker that is down is an ExportError (``unavailable``) before anything is
    created; if publishing fails after the commit, the job is removed again."""
    from .exports import ExportError, ExportOptions

    parsed = ExportOptions.from_dict(options)
    with broker_connection() as conn:
        try:
            broker_check(conn)
        except BrokerUnreachable as error:
            raise ExportError(f"{error}; start it or fix CELERY_BROKER_URL — no export was created",
                              unavailable=True) from error
    with transaction.atomic():
        job = ExportJob.objects.create(project=project, format=parsed.format, options=parsed.as_dict(), created_by=user)
        transaction.on_commit(functools.partial(_export_publish, job.pk))
    return job


def _export_publish(job_id: int) -> None:
    """Queue the export on a fresh broker connection (a pooled one may predate an outage)."""
    from .exports import ExportError
    from .tasks import run_export

    try:
        with broker_connection() as conn:
            run_export.apply_async(args=[job_id], connection=conn, retry=False)
    except Exception as error:
        ExportJob.objects.filter(pk=job_id).delete()
        raise ExportError(
            f"queueing the export on the broker at {safe_url(settings.CELERY_BROKER_URL)} failed "
            f"({type(error).__name__}: {error}); the export was removed",
            unavailable=True,
        ) from error


class _ProgressPublisher:
    """Publishes an export's progress from a thread of its own, at most once a second.

    The export reads inside one long REPEATABLE READ transaction on PostgreSQL, so an
    update made on its connection would stay invisible to the page polling for it
    until the end; the thread's own connection commits each update at once (and on
    SQLite it never writes under the export's open read cursor)."""

    def __init__(self, job_id: int, interval: float = 1.0):
        self.job_id = job_id
        self.interval = interval
        self.done = self.total = self.published = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"export-{job_id}-progress", daemon=True)

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def _loop(self) -> None:
        try:
            while not self.stop.wait(self.interval):
                if self.done != self.published:
                    self.published = self.done
                    ExportJob.objects.filter(pk=self.job_id).update(n_rows=self.done, n_total=self.total)
        except DatabaseError:
            logger.warning("export %s: progress not published", self.job_id, exc_info=True)
        finally:
            connections.close_all()  # this thread's connections only

    def __enter__(self) -> "_ProgressPublisher":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def export_run(*, export_id: int) -> ExportJob | None:
    """Run a queued export (the Celery task calls this). A job that is not queued any
    more (a redelivered task) is left alone; a failure is recorded on the job with
    its message, and its partial files are removed."""
    from .exports import ExportError, ExportOptions, export_write

    claimed = ExportJob.objects.filter(pk=export_id, state=JobState.QUEUED).update(state=JobState.RUNNING)
    if not claimed:
        return None
    job = ExportJob.objects.select_related("project").get(pk=export_id)
    directory = export_directory(job)
    try:
        options = ExportOptions.from_dict(job.options)
        with _ProgressPublisher(job.pk) as progress:
            result = export_write(
                project=job.project, options=options, output=directory / f"{job.project.slug}-{job.format}",
                progress=progress,
            )
    except ExportError as error:
        job.state, job.error = JobState.FAILED, error.message
    except Exception as error:  # recorded for the person waiting on the page; logged with the traceback
        logger.exception("export %s failed", job.pk)
        job.state, job.error = JobState.FAILED, f"the export stopped on an internal error: {error}"
    else:
        root = Path(settings.CONCORD_EXPORT_DIR)
        job.state = JobState.DONE
        job.files = [str((directory / f["name"]).relative_to(root)) for f in result.files]
        job.files.append(str((directory / result.card_name).relative_to(root)))
        job.dataset_card = result.card
        job.sha256 = result.sha256
        job.n_rows, job.n_total = result.rows, result.stats.pairs + sum(result.stats.skipped.values())
    job.finished_at = timezone.now()
    job.save(update_fields=["state", "error", "files", "dataset_card", "sha256", "n_rows", "n_total", "finished_at"])
    return job

# --- issue 6: the annotation queue (lease counters, withdrawing a judgment) ------


def pair_lease_take(*, pair_id: int) -> None:
    """Count one more active lease on the pair; the caller holds the pair's row lock."""
    Pair.objects.filter(pk=pair_id).update(n_active_leases=models.F("n_active_leases") + 1)


@transaction.atomic
def pairs_leases_release(*, counts: dict[int, int]) -> None:
    """Give lease slots back: ``counts`` maps a pair id to how many of its leases ended.

    The pairs are locked in id order, so two releases running at once cannot deadlock,
    and written with one UPDATE.
    """
    if not counts:
        return
    current = Pair.objects.select_for_update().filter(id__in=counts).order_by("id").values_list("id", "n_active_leases")
    update_rows(Pair, ["n_active_leases"], [(pk, max(n - counts[pk], 0)) for pk, n in current])


@transaction.atomic
def judgment_withdraw_human(*, judgment: Judgment, lease_restored: bool = False) -> None:
    """Delete a human judgment with its revisions and refresh the pair (the review page's
    undo). ``lease_restored`` turns the judgment's slot back into a lease, so the pair's
    count of judgments plus leases is unchanged and nobody else can take the slot."""
    if not judgment.is_human:
        raise ValueError("only human judgments are withdrawn")
    agreement_counts.uncount(pair_ids=[judgment.pair_id])  # what it was counted with, before the delete
    Judgment.objects.filter(revises=judgment).delete()
    Judgment.objects.filter(pk=judgment.pk).delete()
    if lease_restored:
        pair_lease_take(pair_id=judgment.pair_id)
    _refresh_and_count(judgment.pair_id)

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
        agreement_counts.catch_up(pair_ids=[pair.pk], changed=True)
    return judgment, created


AI_JUDGMENT_FIELDS = (
    "verdict", "verdict_before_length_rule", "length_rule_applied", "confidence", "expected_verdict",
    "position_consistent", "parse_ok", "rationale", "aspects", "checklist_answers", "runs", "rubric", "flags",
)


@transaction.atomic
def judgment_record_ai(
    *,
    pair: Pair,
    judge_config: JudgeConfig,
    llm_calls: Iterable = (),
    generation_job=None,
    **fields,
) -> tuple[Judgment, bool]:
    """An AI judge's judgment of a pair: exactly one per (JudgeConfig, pair), so a retried
    job item finds the existing row and changes nothing. ``fields`` are the Judgment's
    AI fields (``AI_JUDGMENT_FIELDS``); a verdict is stored only with ``parse_ok``."""
    unknown = set(fields) - set(AI_JUDGMENT_FIELDS)
    if unknown:
        raise ValueError(f"not an AI judgment field: {', '.join(sorted(unknown))}")
    if judge_config.project_id != pair.project_id:
        raise ValueError("the judge config and the pair belong to different projects")
    verdict = fields.get("verdict")
    if verdict is not None and not -2 <= verdict <= 2:
        raise ValueError(f"verdict must be in -2..2, got {verdict}")
    if verdict is not None and not fields.get("parse_ok", True):
        raise ValueError("a judgment that did not parse has no verdict")
    judgment, created = Judgment.objects.get_or_create(
        pair=pair,
        judge_config=judge_config,
        defaults={"project_id": pair.project_id, "is_human": False, "mode": "", "generation_job": generation_job, **fields},
    )
    if created:
        judgment.llm_calls.add(*llm_calls)
        agreement_counts.catch_up(pair_ids=[pair.pk], changed=True)
    return judgment, created


@transaction.atomic
def prompt_rubric_ai(
    *, prompt: Prompt, kind: str, items: list, text: str = "", task_type: str = "", judge_config=None, llm_call=None,
) -> tuple[Rubric, bool]:
    """The prompt's first rubric of ``kind`` written by an AI judge (version 1). When
    any version already exists (an earlier judge run, or a human edit) it is returned
    unchanged, so all pairs of a prompt use one rubric."""
    existing = Rubric.objects.filter(prompt=prompt, kind=kind).order_by("-version").first()
    if existing is not None:
        return existing, False
    return Rubric.objects.get_or_create(
        prompt=prompt, kind=kind, version=1,
        defaults={"project_id": prompt.project_id, "items": items, "text": text, "task_type": task_type,
                  "origin": judge_config.method if judge_config else "ai", "judge_config": judge_config,
                  "llm_call": llm_call},
    )


@transaction.atomic
def score_record(
    *, response: Response, judge_config: JudgeConfig, aspect: str, value: float | None, expected: float | None = None,
    probabilities: list | None = None, rationale: str = "", parse_ok: bool = True, details: dict | None = None,
    llm_call=None,
) -> tuple[Score, bool]:
    """A pointwise score of a response (an aspect rating, a CDR ratio): one per
    (response, judge config, aspect); an existing one is returned unchanged."""
    return Score.objects.get_or_create(
        response=response, judge_config=judge_config, aspect=aspect[:50],
        defaults={"project_id": judge_config.project_id, "value": value, "expected": expected,
                  "probabilities": probabilities or [], "rationale": rationale, "parse_ok": parse_ok,
                  "details": details or {}, "llm_call": llm_call},
    )


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

# --- curation (issue 7): adjudication, auto-accept strata, routing -------------------


class AdjudicationRejected(Exception):
    """A reviewer decision that cannot be recorded; ``field`` names the input at fault."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


@transaction.atomic
def adjudication_record(
    *, pair: Pair, reviewer, verdict: int | None, note: str = "", source: str = Adjudication.Source.REVIEW
) -> Adjudication:
    """A reviewer's decision on a pair: final (the newest wins) and kept with its note.

    ``source = mark_gold`` without a verdict marks the pair's current label as gold.
    The pair's tier and label are refreshed at once; with ``gold_accuracy`` consensus,
    so are the other pairs of the annotators who judged it (their weights changed).
    """
    project = pair.project
    if source not in (Adjudication.Source.REVIEW, Adjudication.Source.MARK_GOLD):
        raise AdjudicationRejected(f"unknown decision source {source!r}", "source")
    if verdict is None and source == Adjudication.Source.MARK_GOLD:
        verdict = pair.label_verdict
        if verdict is None:
            raise AdjudicationRejected("this pair has no label yet: choose a verdict to make it gold", "verdict")
    if isinstance(verdict, bool) or not isinstance(verdict, int) or not -2 <= verdict <= 2:
        raise AdjudicationRejected(f"verdict must be an integer in -2..2, got {verdict!r}", "verdict")
    if project.verdict_scale == Project.Scale.THREE and abs(verdict) == 2:
        raise AdjudicationRejected("this project uses a three-level scale: verdict must be -1, 0 or 1", "verdict")
    adjudication = Adjudication.objects.create(
        project=project, pair=pair, reviewer=reviewer, verdict=verdict, note=(note or "").strip(), source=source
    )
    pairs_refresh(pair_ids=[pair.pk])
    if project.consensus_weighting == Project.ConsensusWeighting.GOLD_ACCURACY:
        annotators = Judgment.objects.filter(pair=pair, is_human=True).values("annotator_id")
        affected = Judgment.objects.filter(project=project, is_human=True, annotator_id__in=annotators)
        pairs_refresh(pair_ids=affected.values_list("pair_id", flat=True).distinct())
    agreement_counts.catch_up(pair_ids=[pair.pk])  # its gold answer counts in judge accuracy
    return adjudication


def auto_accept_strata_decide(*, project: Project) -> set[str]:
    """Measure every (AI judge × prompt category) stratum against humans and decide
    which are auto-accepted (methods.md §4.3); returns the categories whose set of
    accepted judges changed.

    Evidence: pairs judged by both humans and the judge with at least one comparison
    where neither side is a tie; agreement = share of such comparisons agreeing in
    sign (``no_ties``), with a 95% bootstrap interval over pairs. Accepted when there
    are at least ``auto_accept_min_pairs`` pairs and the interval's lower bound reaches
    ``auto_accept_threshold``. Strata with enough pairs are stored with their evidence,
    accepted or not; a stratum that no longer qualifies is deactivated, never deleted.
    One transaction (``aggregate_session``).
    """
    with aggregate_session():
        return _strata_decide(project)


def _strata_decide(project: Project) -> set[str]:
    evidence = stratum_unit_types(project)
    active_judges = set(
        JudgeConfig.objects.filter(project=project, kind=JudgeConfig.Kind.AI, is_active=True).values_list("id", flat=True)
    )
    existing = {(s.judge_config_id, s.category): s for s in AutoAcceptStratum.objects.filter(project=project)}
    changed: set[str] = set()
    decided: set[tuple[int, str]] = set()
    for (judge_id, category), (parts, multiplicities) in evidence.items():
        n = int(multiplicities.sum())
        if n < project.auto_accept_min_pairs:
            continue
        totals = multiplicities @ parts
        agreement = float(totals[0] / totals[1])
        interval = metrics.bootstrap_interval(parts, multiplicities, lambda s: s[0] / s[1] if s[1] else None)
        low, high = interval if interval else (agreement, agreement)
        active = judge_id in active_judges and low >= project.auto_accept_threshold
        stratum = existing.get((judge_id, category))
        if stratum is None or stratum.active != active or stratum.n != n or abs(stratum.agreement - agreement) > 1e-9:
            AutoAcceptStratum.objects.update_or_create(
                project=project,
                judge_config_id=judge_id,
                category=category,
                defaults={"n": n, "agreement": agreement, "ci_low": low, "ci_high": high, "active": active},
            )
        if (stratum.active if stratum else False) != active:
            changed.add(category)
        decided.add((judge_id, category))
    for key, stratum in existing.items():
        if key not in decided and stratum.active:
            AutoAcceptStratum.objects.filter(pk=stratum.pk).update(active=False)
            changed.add(stratum.category)
    return changed


@dataclass
class RoutingSummary:
    pairs: int = 0
    routed: int = 0
    audit: int = 0
    accepted: int = 0
    awaiting_adjudication: int = 0
    strata_changed: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"Scored {self.pairs:,} pairs: {self.routed:,} routed to humans "
            f"({self.audit:,} as audit of auto-accepted pairs), {self.accepted:,} accepted, "
            f"{self.awaiting_adjudication:,} awaiting adjudication."
            + (f" Auto-accept changed in: {', '.join(c or '(no category)' for c in self.strata_changed)}." if self.strata_changed else "")
        )


ROUTE_CHUNK = 2000


def _pair_ids_in_chunks(queryset, size: int = ROUTE_CHUNK):
    """Primary keys of a queryset in id order, a chunk at a time (keyset, no OFFSET)."""
    after = 0
    while True:
        ids = list(queryset.filter(id__gt=after).order_by("id").values_list("id", flat=True)[:size])
        if not ids:
            return
        yield ids
        after = ids[-1]


def pairs_route(*, project: Project) -> RoutingSummary:
    """One routing round (methods.md §4.3): decide auto-accept strata, refresh the tiers
    they change, score every pair, and set statuses.

    Status after a round: rejected stays; gold and silver pairs are ``accepted``, except
    the audit sample (``audit_fraction`` of auto-accepted pairs, a stable draw) which is
    ``routed`` until it has the overlap of human judgments; unverified pairs with fewer
    human judgments than the overlap are candidates, all ``routed`` when
    ``human_budget`` is empty, else the highest routing scores fill the budget (pairs
    already in progress — judged or leased — keep their place and count against it) and
    the rest are ``open``; unverified pairs with all their human judgments are ``open``
    (they await adjudication). Work is chunked: a fixed number of queries per 2,000 pairs.

    Deliberately not one transaction: a round over a million pairs would hold row
    locks the annotation queue needs for minutes. Each chunk is written consistently,
    and a round interrupted half-way is completed by the next one.
    """
    summary = RoutingSummary()
    changed = auto_accept_strata_decide(project=project)
    summary.strata_changed = sorted(changed)
    pairs = Pair.objects.filter(project=project)
    if changed:
        for ids in _pair_ids_in_chunks(pairs.filter(prompt__category__in=changed)):
            pairs_refresh(pair_ids=ids)
    if project.consensus_weighting == Project.ConsensusWeighting.GOLD_ACCURACY:
        for ids in _pair_ids_in_chunks(pairs.filter(n_human_judgments__gt=0)):
            pairs_refresh(pair_ids=ids)

    weights = routing_weights(project.routing_weights)
    gold_per_category = gold_pairs_per_category(project)
    budget = project.human_budget
    overlap = project.overlap
    heap: list[tuple[float, int]] = []  # (score, -id): the best candidates not yet in progress
    in_progress = 0
    for ids in _pair_ids_in_chunks(pairs):
        rows = Pair.objects.filter(id__in=ids).values_list(
            "id", "tier", "status", "label_source", "n_human_judgments", "n_active_leases",
            "routing_score", "ensemble_mu", "prompt__category",
        )
        evidence = pair_evidence(ids)
        updates = []
        for pair_id, tier, status, label_source, n_human, n_leases, old_score, mu, category in rows:
            pair_facts = replace(
                evidence.get(pair_id, PairEvidence()), ensemble_mu=mu, gold_in_category=gold_per_category.get(category, 0)
            )
            score = routing_score(pair_facts, weights)
            new_status = status
            needs_humans = n_human < overlap
            if status == Pair.Status.REJECTED:
                pass
            elif tier == Pair.Tier.GOLD:
                new_status = Pair.Status.ACCEPTED
            elif tier == Pair.Tier.SILVER:
                audit = label_source == "auto_accept" and needs_humans and in_audit_sample(
                    project.id, pair_id, project.audit_fraction
                )
                new_status = Pair.Status.ROUTED if audit else Pair.Status.ACCEPTED
                summary.audit += audit
            elif not needs_humans:
                new_status = Pair.Status.OPEN
            elif budget is None:
                new_status = Pair.Status.ROUTED
            elif status == Pair.Status.ROUTED and (n_human or n_leases):
                in_progress += 1
            else:
                heapq.heappush(heap, (score, -pair_id))
                if len(heap) > budget:
                    heapq.heappop(heap)
            if score != old_score or new_status != status:
                updates.append((pair_id, score, new_status))
        update_rows(Pair, ["routing_score", "status"], updates)
        summary.pairs += len(ids)
    if budget is not None:
        _fill_budget(project, heap, max(0, budget - in_progress))
    counts = dict(pairs.values_list("status").annotate(n=models.Count("id")).values_list("status", "n"))
    summary.routed = counts.get(Pair.Status.ROUTED, 0)
    summary.accepted = counts.get(Pair.Status.ACCEPTED, 0)
    summary.awaiting_adjudication = adjudication_queue(project).count()
    return summary


def _fill_budget(project: Project, heap: list[tuple[float, int]], places: int) -> None:
    """Route the ``places`` best candidates (by score, then id) and open the others,
    with two set-based UPDATEs bounded by the last admitted (score, id)."""
    candidates = Pair.objects.filter(
        project=project, tier=Pair.Tier.UNVERIFIED, n_human_judgments__lt=project.overlap
    ).exclude(status=Pair.Status.REJECTED)
    in_progress = models.Q(status=Pair.Status.ROUTED) & (
        models.Q(n_human_judgments__gt=0) | models.Q(n_active_leases__gt=0)
    )
    candidates = candidates.exclude(in_progress)
    best = heapq.nlargest(places, heap)
    if not best:
        candidates.exclude(status=Pair.Status.OPEN).update(status=Pair.Status.OPEN)
        return
    last_score, last_negative_id = best[-1]
    admitted = models.Q(routing_score__gt=last_score) | models.Q(routing_score=last_score, id__lte=-last_negative_id)
    candidates.filter(admitted).exclude(status=Pair.Status.ROUTED).update(status=Pair.Status.ROUTED)
    candidates.exclude(admitted).exclude(status=Pair.Status.OPEN).update(status=Pair.Status.OPEN)


# --- AI judges (issue 5): judges added by admins, rule sets --------------------------


def judge_config_add(
    *, project: Project, name: str, method: str, model: str = "", template_version: str = "1", params: dict | None = None
) -> JudgeConfig:
    """An AI judge added by an admin, on the project's default model unless named."""
    params = params or {}
    return JudgeConfig.objects.create(
        project=project,
        name=name,
        kind=JudgeConfig.Kind.AI,
        method=method,
        backend=settings.CONCORD_BACKEND,
        model=model or project.default_model or settings.CONCORD_MODEL_NAME,
        template_version=template_version or "1",
        params=params,
        params_hash=params_hash(params),
    )


@transaction.atomic
def ruleset_add(*, project: Project, items: list[dict], origin: str, text: str = "", llm_call=None, created_by=None) -> Rubric:
    """A new version of the project's rule set (``kind = ruleset``), its parent the
    newest one. The project row is locked so two jobs never take the same version."""
    Project.objects.select_for_update().filter(pk=project.pk).first()
    previous = (
        Rubric.objects.filter(project=project, prompt__isnull=True, kind=Rubric.Kind.RULESET).order_by("-version").first()
    )
    return Rubric.objects.create(
        project=project,
        kind=Rubric.Kind.RULESET,
        version=previous.version + 1 if previous else 1,
        parent=previous,
        items=items,
        text=text,
        origin=origin,
        llm_call=llm_call,
        created_by=created_by,
    )

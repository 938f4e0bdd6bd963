"""``judge``: an AI JudgeConfig judges the project's pairs (methods.md §2.3–2.5, 2.9, 2.10).

``run_job --method judge --param judge=NAME``: one item per pair not yet judged by
that JudgeConfig; the item dispatches on ``JudgeConfig.method``. Each item stores
exactly one Judgment per (JudgeConfig, pair) through ``services.judgment_record_ai``
and then refreshes the pair's consensus and tier. The storage shape is documented in
``generation.judges``.

Verdicts are read by option scoring when the backend can score continuations (a
valid distribution even from a rambling 135M model); otherwise the strict final
``VERDICT: d`` line is parsed, with one re-ask at temperature +0.3, and a judgment
that still does not parse is stored with ``parse_ok = false`` and no verdict.
"""
from __future__ import annotations

from django.db.models import Count, FloatField, Q, StdDev
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from curation import services
from curation.models import JudgeConfig, Judgment, LLMCall, Pair, Prompt, Rubric

from ..backends import backend_capabilities
from ..judges import parsing
from ..judges.verdicts import (
    RATING_OPTIONS,
    VERDICT_OPTIONS,
    RunVerdict,
    apply_length_rule,
    argmax_verdict,
    aspect_mean,
    combine_runs,
    ensemble_strength,
    parse_rating,
    parse_verdict,
    probabilities_to_stored,
    round_half_toward_zero,
    score_to_verdict,
    sign,
    to_stored,
)
from ..prompts import nonce, quote_block, template_get
from .base import ItemContext, Method, Param, ParamError, prompt_messages

JUDGING_MAX_NEW_TOKENS = 1024  # methods.md §2: judging decoding default
ASPECT_DEFINITIONS = {
    "helpfulness": "does the reply meet the user's need, informatively and usefully?",
    "honesty": "does the reply convey appropriate certainty and admit what it does not know?",
    "instruction_following": "does the reply follow the instruction's task, constraints and format?",
    "truthfulness": "is the reply free of factual errors and made-up content?",
}
GOLD_CHOICES = ("any", "only", "none")
ORDERS = ("AB", "BA")


class Judge(Method):
    name = "judge"
    label = "AI judge"
    description = (
        "An AI JudgeConfig of the project (pairwise-checklist, rubric-then-judge, pointwise-aspects, cdr, "
        "ensemble, or one an admin added) judges the pairs it has not judged yet: one Judgment per pair."
    )
    needs = ("generate",)
    params = (
        Param("judge", "str", "", "name of an active AI JudgeConfig of the project (required)"),
        Param("limit", "int", 0, "at most this many pairs (0 = all not yet judged by this judge)", minimum=0),
        Param("gold", "str", "any", "only pairs with a gold label (only), without (none), or any", choices=GOLD_CHOICES),
        Param("status", "str", "", "only pairs with this status (open, in_review, accepted, rejected...); empty: any"),
        Param("max_new_tokens", "int", 0, "most new tokens per judge call; 0: the judge config's, else 1024", minimum=0, maximum=8192),
        Param("members", "strs", [], "ensemble only: member judge names; empty: the config's, else every other "
              "active AI judge with judgments"),
        Param("seed", "int", 0, "seed of sampled runs (n_samples > 1)"),
    )

    def clean_params(self, project, raw: dict) -> dict:
        cleaned = super().clean_params(project, raw)
        if not cleaned["judge"]:
            raise ParamError("parameter judge: required, the name of one of the project's AI judges "
                             f"({', '.join(active_judge_names(project)) or 'none'})")
        judge = JudgeConfig.objects.filter(project=project, name=cleaned["judge"]).first()
        if judge is None or judge.kind != JudgeConfig.Kind.AI or not judge.is_active:
            state = "is not an AI judge" if judge and judge.kind != JudgeConfig.Kind.AI else (
                "is inactive" if judge else "does not exist in this project")
            raise ParamError(f"parameter judge: {cleaned['judge']!r} {state}; active AI judges: "
                             f"{', '.join(active_judge_names(project)) or 'none'}")
        if judge.method not in RUNNERS:
            raise ParamError(f"parameter judge: {judge.name!r} has method {judge.method!r}, which the judge job cannot run")
        if judge.method == JudgeConfig.Method.CDR and not backend_capabilities().get("score"):
            raise ParamError("parameter judge: the cdr judge needs the backend capability score (log-probs of a "
                             "continuation), which this backend does not offer")
        cleaned["judge_config_id"] = judge.pk
        if judge.method == JudgeConfig.Method.ENSEMBLE:
            cleaned["members"], cleaned["scorer_sd"] = ensemble_members(project, judge, cleaned["members"])
        elif raw.get("members"):
            raise ParamError("parameter members: only for an ensemble judge")
        return cleaned

    def plan(self, job):
        judge = JudgeConfig.objects.get(pk=job.params["judge_config_id"])
        pairs = Pair.objects.filter(project=job.project).exclude(
            id__in=Judgment.objects.filter(judge_config=judge).values("pair_id"))
        if job.params["gold"] == "only":
            pairs = pairs.filter(gold_verdict__isnull=False)
        elif job.params["gold"] == "none":
            pairs = pairs.filter(gold_verdict__isnull=True)
        if job.params["status"]:
            pairs = pairs.filter(status=job.params["status"])
        if judge.method == JudgeConfig.Method.ENSEMBLE:
            pairs = pairs.annotate(n_members=Count("judgments", filter=Q(
                judgments__judge_config__name__in=job.params["members"], judgments__verdict__isnull=False,
            ))).filter(n_members__gte=min_members(judge))
        pairs = pairs.order_by("id").values_list("id", flat=True)
        if job.params["limit"]:
            pairs = pairs[: job.params["limit"]]
        for pair_id in pairs:
            yield f"pair:{pair_id}", {"pair_id": pair_id}

    def run_item(self, ctx: ItemContext) -> None:
        judge = JudgeConfig.objects.get(pk=ctx.params["judge_config_id"], project=ctx.project)
        pair = Pair.objects.select_related("prompt", "response_a", "response_b").get(
            pk=ctx.payload["pair_id"], project=ctx.project)
        if Judgment.objects.filter(pair=pair, judge_config=judge).exists():
            ctx.details["skipped"] = "already judged"
            return
        result = RUNNERS[judge.method](JudgeRun(ctx, judge, pair))
        if result is None:
            ctx.details["skipped"] = "too few member verdicts"
            return
        judgment, created = result
        ctx.count("judgments", created)
        services.pairs_refresh(pair_ids=[pair.pk])
        ctx.details.update(pair=pair.pk, verdict=judgment.verdict, parse_ok=judgment.parse_ok)


def active_judge_names(project) -> list[str]:
    return list(JudgeConfig.objects.filter(project=project, kind=JudgeConfig.Kind.AI, is_active=True)
                .order_by("name").values_list("name", flat=True))


def min_members(judge: JudgeConfig) -> int:
    return int(judge.params.get("min_members", 3))


# Judges whose evidence is a reward score rather than a verdict (methods.md §2.10):
# d = (score(chosen) − score(rejected)) / sd, sd over the project's pairs.
SCORER_METHODS = (JudgeConfig.Method.CDR,)


def scorer_spreads(project, names: list[str]) -> dict[str, float | None]:
    """Each scorer member's sample standard deviation of score differences (B − A) over
    the project's pairs it judged, by SQL aggregation; None with fewer than two."""
    scorers = JudgeConfig.objects.filter(project=project, name__in=names, method__in=SCORER_METHODS)
    delta = Cast(KT("aspects__cdr__delta"), FloatField())
    return {
        judge.name: judge.judgments.filter(aspects__cdr__delta__isnull=False).aggregate(
            sd=StdDev(delta, sample=True))["sd"]
        for judge in scorers
    }


def ensemble_members(project, judge: JudgeConfig, names: list[str]) -> tuple[list[str], dict[str, float]]:
    """The member judges of an ensemble (the job's list, the config's, or every other
    active AI judge, not an ensemble, that has judgments in the project) and the
    standard deviation of each scorer member. A scorer whose differences have no
    spread (all ties, e.g. cdr with strong = weak) carries no evidence: refused when
    named, left out when the members are chosen by default."""
    named = names or list(judge.params.get("members") or [])
    others = JudgeConfig.objects.filter(project=project, kind=JudgeConfig.Kind.AI).exclude(pk=judge.pk)
    names = named or list(others.filter(is_active=True, judgments__isnull=False)
                          .exclude(method=JudgeConfig.Method.ENSEMBLE).distinct().order_by("name")
                          .values_list("name", flat=True))
    known = set(others.values_list("name", flat=True))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ParamError(f"parameter members: {', '.join(unknown)} not an AI judge of this project other than "
                         f"{judge.name}")
    spreads = scorer_spreads(project, names)
    flat = sorted(name for name, sd in spreads.items() if not sd)
    if flat and named:
        raise ParamError(f"parameter members: the scores of {', '.join(flat)} have no spread over the project's "
                         "pairs (fewer than two, or all equal), so they carry no evidence; leave them out")
    names = [n for n in names if n not in flat]
    if len(names) < min_members(judge):
        raise ParamError(f"parameter members: the ensemble needs at least {min_members(judge)} member judges, "
                         f"got {len(names)} ({', '.join(names) or 'no judge has judgments yet'})")
    return names, {name: sd for name, sd in spreads.items() if name in names}


class JudgeRun:
    """One pair judged by one JudgeConfig inside a job item: settings, backend, quoting."""

    def __init__(self, ctx: ItemContext, judge: JudgeConfig, pair: Pair):
        self.ctx, self.judge, self.pair = ctx, judge, pair
        self.model = judge.model or ctx.project.default_model or None
        self.tag = nonce(ctx.job.pk, ctx.item.key, judge.pk)
        self.calls: list[LLMCall] = []
        self.notes: list[str] = []

    @property
    def scoring(self) -> bool:
        """Read verdicts by option scoring (log-probs) rather than by parsing text."""
        return bool(self.ctx.backend(self.model).supports_score)

    def setting(self, name: str, default):
        job_value = self.ctx.params.get(name)
        return job_value if job_value else self.judge.params.get(name, default)

    @property
    def max_new_tokens(self) -> int:
        return int(self.setting("max_new_tokens", JUDGING_MAX_NEW_TOKENS))

    def conversation_block(self) -> str:
        messages = prompt_messages(self.pair.prompt)
        text = messages[-1]["content"] if len(messages) == 1 else "\n\n".join(
            f"{m['role']}: {m['content']}" for m in messages)
        return quote_block("conversation", text, self.tag)

    def responses_block(self, order: str) -> str:
        texts = self.shown(order)
        return "\n\n".join(quote_block(f"response-{i + 1}", text, self.tag) for i, text in enumerate(texts))

    def shown(self, order: str) -> list[str]:
        a, b = self.pair.response_a.text, self.pair.response_b.text
        return [a, b] if order == "AB" else [b, a]

    def record(self, **fields):
        return services.judgment_record_ai(
            pair=self.pair, judge_config=self.judge, llm_calls=self.calls, generation_job=self.ctx.job,
            **fields)


# --- pairwise runs shared by the checklist and the rubric judges (§2.3, §2.4) -------------


def verdict_runs(run: JudgeRun, step: str, render: dict[str, str], template_name: str,
                 checklist: list[str] | None = None) -> list[dict]:
    """Both shown orders (× n_samples): generate the rationale, then read the verdict by
    option scoring after ``VERDICT: `` (or parse it). ``render`` maps order → prompt text."""
    template = template_get(template_name)
    n_samples = int(run.judge.params.get("n_samples", 1))
    temperature = 0.0 if n_samples == 1 else 0.7
    scoring = run.scoring
    keys = [(order, i) for order in ORDERS for i in range(n_samples)]
    requests = [
        run.ctx.request([{"role": "user", "content": render[order]}], index=f"{order}-{i}",
                        max_new_tokens=run.max_new_tokens, temperature=temperature, top_p=1.0,
                        stop=("VERDICT:",) if scoring else ())
        for order, i in keys
    ]
    calls = run.ctx.generate(step, requests, template=template, model=run.model,
                             indices=[f"{order}-{i}" for order, i in keys])
    run.calls += calls
    runs = []
    for (order, i), call, request in zip(keys, calls, requests):
        if scoring:
            runs.append(scored_run(run, step, order, i, call, request, template, checklist))
        else:
            runs.append(parsed_run(run, step, order, i, call, request, template, checklist))
    return runs


def scored_run(run, step, order, index, call, request, template, checklist) -> dict:
    rationale = call.output.strip()
    context = [request.messages[0], {"role": "assistant", "content": f"{rationale}\n\nVERDICT: "}]
    distribution, score_call = run.ctx.option_distribution(
        f"{step}-score-{order}-{index}", context, VERDICT_OPTIONS, template=template, model=run.model)
    run.calls.append(score_call)
    as_shown = argmax_verdict(distribution.probabilities)
    return run_dict(order, index, as_shown, probabilities_to_stored(distribution.probabilities, order),
                    rationale, checklist, call, score_call)


def parsed_run(run, step, order, index, call, request, template, checklist) -> dict:
    """No log-probs: the last ``VERDICT:`` line of the judge's output, one re-ask at
    temperature +0.3 when it does not parse; else the run has no verdict."""
    as_shown = parse_verdict(call.output)
    if as_shown is None:
        retry = run.ctx.request(request.messages, index=f"{order}-{index}-reask", max_new_tokens=request.max_new_tokens,
                                temperature=request.temperature + 0.3, top_p=1.0)
        call = run.ctx.generate(f"{step}-reask", [retry], template=template, model=run.model,
                                indices=[f"{order}-{index}"])[0]
        run.calls.append(call)
        as_shown = parse_verdict(call.output)
    rationale = call.output.strip()
    cut = rationale.upper().rfind("VERDICT:")
    rationale = rationale[:cut].strip() if cut >= 0 else rationale
    return run_dict(order, index, as_shown, None, rationale, checklist, call, None)


def run_dict(order, index, as_shown, probabilities, rationale, checklist, call, score_call) -> dict:
    answers = parsing.parse_checklist_answers(rationale, len(checklist), order) if checklist else None
    return {
        "shown_order": order,
        "sample": index,
        "verdict": to_stored(as_shown, order),
        "verdict_as_shown": as_shown,
        "d": as_shown + 3 if as_shown is not None else None,
        "probabilities": probabilities,
        "rationale": rationale,
        "checklist_answers": answers,
        "parse_ok": as_shown is not None,
        "llm_call": call.pk,
        "score_llm_call": score_call.pk if score_call else None,
    }


def record_combined(run: JudgeRun, runs: list[dict], rubric: Rubric | None):
    """Swap combination, confidence and length rule (§2.3), stored as one Judgment."""
    combination = combine_runs([
        RunVerdict(r["shown_order"], r["verdict"], tuple(r["probabilities"]) if r["probabilities"] else None)
        for r in runs
    ])
    verdict, applied = apply_length_rule(combination.verdict, run.pair.response_a.text, run.pair.response_b.text,
                                         run.ctx.project.length_rule_k)
    first_parsed = next((r for r in runs if r["parse_ok"]), None)
    return run.record(
        verdict=verdict,
        verdict_before_length_rule=combination.verdict,
        length_rule_applied=applied,
        confidence=combination.confidence,
        expected_verdict=combination.expected_verdict,
        position_consistent=combination.position_consistent,
        parse_ok=combination.parse_ok,
        rationale=first_parsed["rationale"] if first_parsed else "",
        checklist_answers=(first_parsed or {}).get("checklist_answers") or {},
        runs=runs,
        rubric=rubric,
        aspects={"notes": run.notes} if run.notes else {},
        flags=list(run.notes),  # checklist_unparsed, rubric_unparsed
    )


# --- pairwise checklist (§2.3) ---------------------------------------------------------


def prompt_checklist(run: JudgeRun) -> Rubric | None:
    """The prompt's checklist Rubric, generated once and reused by all its pairs. An
    output that is not a JSON list of questions stores nothing (noted on the judgment)."""
    prompt: Prompt = run.pair.prompt
    existing = Rubric.objects.filter(prompt=prompt, kind=Rubric.Kind.CHECKLIST).order_by("-version").first()
    if existing is not None:
        return existing
    template = template_get("judge-checklist")
    request = run.ctx.request([{"role": "user", "content": template.render(conversation_block=run.conversation_block())}],
                              max_new_tokens=min(run.max_new_tokens, 256), temperature=0.0, top_p=1.0)
    call = run.ctx.generate("checklist", [request], template=template, model=run.model)[0]
    run.calls.append(call)
    questions = parsing.parse_checklist(call.output)
    if questions is None:
        run.notes.append("checklist_unparsed")
        return None
    rubric, _ = services.prompt_rubric_ai(prompt=prompt, kind=Rubric.Kind.CHECKLIST,
                                          items=[{"text": q} for q in questions], judge_config=run.judge, llm_call=call)
    return rubric


def judge_pairwise(run: JudgeRun):
    rubric = prompt_checklist(run)
    questions = [item["text"] for item in rubric.items] if rubric else None
    if questions:
        checklist_block = quote_block(
            "checklist", "\n".join(f"Q{i}: {q}" for i, q in enumerate(questions, 1)), run.tag) + "\n\n"
        instruction = ("Go through the checklist, one line per question: 'Q<n>: Response 1 yes|no, "
                       "Response 2 yes|no'. ")
    else:
        checklist_block, instruction = "", ""
    template = template_get("judge-pairwise")
    render = {
        order: template.render(conversation_block=run.conversation_block(), responses_block=run.responses_block(order),
                               checklist_block=checklist_block, checklist_instruction=instruction)
        for order in ORDERS
    }
    runs = verdict_runs(run, "verdict", render, "judge-pairwise", questions)
    return record_combined(run, runs, rubric)


# --- rubric then judge (§2.4) ------------------------------------------------------------


def prompt_rubric(run: JudgeRun) -> Rubric | None:
    """Call 1: the prompt's rubric (chat) or reference solution (reasoning), once per prompt."""
    prompt = run.pair.prompt
    kinds = (Rubric.Kind.RUBRIC, Rubric.Kind.REFERENCE_SOLUTION)
    existing = Rubric.objects.filter(prompt=prompt, kind__in=kinds).order_by("-created_at", "-version").first()
    if existing is not None:
        return existing
    template = template_get("judge-rubric-plan")
    request = run.ctx.request([{"role": "user", "content": template.render(conversation_block=run.conversation_block())}],
                              max_new_tokens=run.max_new_tokens, temperature=0.0, top_p=1.0)
    call = run.ctx.generate("rubric", [request], template=template, model=run.model)[0]
    run.calls.append(call)
    plan = parsing.parse_rubric_plan(call.output)
    if plan is None:
        run.notes.append("rubric_unparsed")
        return None
    if plan["task_type"] == "reasoning":
        rubric, _ = services.prompt_rubric_ai(prompt=prompt, kind=Rubric.Kind.REFERENCE_SOLUTION, items=[],
                                              text=plan["text"], task_type="reasoning", judge_config=run.judge, llm_call=call)
    else:
        rubric, _ = services.prompt_rubric_ai(prompt=prompt, kind=Rubric.Kind.RUBRIC, items=plan["items"],
                                              task_type="chat", judge_config=run.judge, llm_call=call)
    return rubric


def rubric_text(rubric: Rubric) -> str:
    if rubric.kind == Rubric.Kind.REFERENCE_SOLUTION:
        return rubric.text
    return "\n".join(f"- {item['text']} (weight {item.get('weight', 0):.2f})"
                     + (f": {item['why']}" if item.get("why") else "") for item in rubric.items)


def judge_rubric(run: JudgeRun):
    if run.judge.params.get("single_call"):
        return judge_rubric_single_call(run)
    rubric = prompt_rubric(run)
    if rubric is None:
        kind, block = "general criteria", quote_block(
            "rubric", "- helpfulness\n- correctness\n- following the instruction", run.tag)
    else:
        kind = "reference solution" if rubric.kind == Rubric.Kind.REFERENCE_SOLUTION else "rubric"
        block = quote_block("reference-solution" if kind == "reference solution" else "rubric", rubric_text(rubric), run.tag)
    template = template_get("judge-rubric-verdict")
    render = {
        order: template.render(rubric_kind=kind, conversation_block=run.conversation_block(), rubric_block=block,
                               responses_block=run.responses_block(order))
        for order in ORDERS
    }
    runs = verdict_runs(run, "verdict", render, "judge-rubric-verdict")
    for r in runs:
        r["rubric_id"] = rubric.pk if rubric else None
    return record_combined(run, runs, rubric)


def judge_rubric_single_call(run: JudgeRun):
    """``single_call = true``: each order's one generation writes its own rubric or
    solution, the assessment and the verdict. The plans are kept per run
    (``rubric_plan``), not as the prompt's Rubric, since the two orders may write
    different ones; ``rubric_unparsed`` when no run wrote a plan that parses,
    ``rubric_differs`` when both orders wrote one and they differ."""
    template = template_get("judge-rubric-single")
    render = {order: template.render(conversation_block=run.conversation_block(),
                                     responses_block=run.responses_block(order))
              for order in ORDERS}
    runs = verdict_runs(run, "verdict", render, "judge-rubric-single")
    plans = []
    for r in runs:
        r["rubric_id"] = None
        r["rubric_plan"] = parsing.parse_rubric_plan(r["rationale"])
        plans.append(r["rubric_plan"])
    parsed = [plan for plan in plans if plan is not None]
    if not parsed:
        run.notes.append("rubric_unparsed")
    elif len(parsed) == len(plans) and any(plan != parsed[0] for plan in parsed):
        run.notes.append("rubric_differs")
    return record_combined(run, runs, None)


# --- pointwise aspects (§2.5) --------------------------------------------------------------


def aspect_score(run: JudgeRun, aspect: str, side: str):
    """A 1–5 rating of one side on one aspect with a short rationale, as a Score row
    (reused when this judge already rated that response on that aspect)."""
    response = run.pair.response_a if side == "A" else run.pair.response_b
    from curation.models import Score

    existing = Score.objects.filter(response=response, judge_config=run.judge, aspect=aspect).first()
    if existing is not None:
        return existing
    template = template_get("judge-aspect-rating")
    blocks = "\n\n".join(quote_block(f"response-{i}", r.text, run.tag)
                         for i, r in ((1, run.pair.response_a), (2, run.pair.response_b)))
    text = template.render(aspect=aspect.replace("_", " "), definition=ASPECT_DEFINITIONS.get(aspect, f"the {aspect} of the reply"),
                           conversation_block=run.conversation_block(), responses_block=blocks,
                           target=f"Response {1 if side == 'A' else 2}")
    request = run.ctx.request([{"role": "user", "content": text}], index=f"{aspect}-{side}",
                              max_new_tokens=min(run.max_new_tokens, 256), temperature=0.0, top_p=1.0,
                              stop=("Rating:",) if run.scoring else ())
    call = run.ctx.generate(f"aspect-{aspect}", [request], template=template, model=run.model,
                            indices=[side])[0]
    run.calls.append(call)
    if run.scoring:
        rationale = call.output.strip()
        context = [request.messages[0], {"role": "assistant", "content": f"{rationale}\n\nRating: "}]
        distribution, score_call = run.ctx.option_distribution(
            f"aspect-{aspect}-{side}-score", context, RATING_OPTIONS, template=template, model=run.model)
        run.calls.append(score_call)
        value, expected, probabilities = int(distribution.best), distribution.expected(), distribution.probabilities
    else:
        value, expected, probabilities, score_call = parse_rating(call.output), None, [], call
        rationale = call.output.strip()
    score, _ = services.score_record(
        response=response, judge_config=run.judge, aspect=aspect, value=value, expected=expected,
        probabilities=probabilities, rationale=rationale, parse_ok=value is not None, llm_call=score_call)
    return score


def judge_aspects(run: JudgeRun):
    aspects = list(run.ctx.project.aspects or ASPECT_DEFINITIONS)
    scores = {side: {a: aspect_score(run, a, side) for a in aspects} for side in ("A", "B")}
    values = {side: {a: s.value for a, s in by_aspect.items()} for side, by_aspect in scores.items()}
    means = {side: aspect_mean(values[side], aspects) for side in ("A", "B")}
    verdict = score_to_verdict(means["A"], means["B"], float(run.judge.params.get("t_tie", 0.0)),
                               float(run.judge.params.get("t_much", 1.0)))
    rationale = "\n".join(f"{side} {a}: {s.value} — {s.rationale[:300]}"
                          for side, by_aspect in scores.items() for a, s in by_aspect.items())
    return run.record(
        verdict=verdict, verdict_before_length_rule=verdict, parse_ok=verdict is not None, rationale=rationale,
        aspects={"scores": values, "m": means, "score_ids": {side: [s.pk for s in d.values()] for side, d in scores.items()}},
    )


# --- CDR (§2.9) --------------------------------------------------------------------------------


def response_logprob(run: JudgeRun, side: str, role: str, model: str) -> tuple[list[float], LLMCall]:
    """log π(y | x) of one side's response under ``model``: the log-probs of y's tokens only,
    after the chat-formatted prompt (teacher forcing through the backend's ``score``)."""
    response = run.pair.response_a if side == "A" else run.pair.response_b
    distribution, call = run.ctx.option_distribution(
        f"cdr-{side}-{role}", prompt_messages(run.pair.prompt), (response.text,), model=model)
    run.calls.append(call)
    return list(call.logprobs["token_logprobs"][0]), call


def cdr_score(run: JudgeRun, side: str, strong: str, weak: str):
    from curation.models import Score

    response = run.pair.response_a if side == "A" else run.pair.response_b
    existing = Score.objects.filter(response=response, judge_config=run.judge, aspect="cdr").first()
    if existing is not None:
        return existing
    strong_lp, call = response_logprob(run, side, "strong", strong)
    weak_lp, _ = response_logprob(run, side, "weak", weak)
    ratio = sum(strong_lp) - sum(weak_lp)
    details = {"strong_model": strong, "weak_model": weak, "strong_logprob": sum(strong_lp),
               "weak_logprob": sum(weak_lp), "n_tokens": len(strong_lp),
               "mean_per_token": ratio / len(strong_lp) if strong_lp else None}
    score, _ = services.score_record(response=response, judge_config=run.judge, aspect="cdr", value=ratio,
                                     details=details, llm_call=call)
    return score


def judge_cdr(run: JudgeRun):
    strong = run.judge.params.get("strong_model") or run.model
    weak = run.judge.params.get("weak_model") or run.model
    scores = {side: cdr_score(run, side, strong, weak) for side in ("A", "B")}
    t_tie = float(run.judge.params.get("t_tie", 0.0))
    t_much = float(run.judge.params.get("t_much") or float("inf"))
    verdict = score_to_verdict(scores["A"].value, scores["B"].value, t_tie, t_much)
    delta = scores["B"].value - scores["A"].value
    below = abs(delta) < float(run.judge.params.get("min_margin", 0.0))
    return run.record(
        verdict=verdict, verdict_before_length_rule=verdict, parse_ok=True,
        rationale=f"log density ratio {strong} over {weak}: A {scores['A'].value:.3f}, B {scores['B'].value:.3f}",
        aspects={"cdr": {"A": scores["A"].value, "B": scores["B"].value, "delta": delta}},
        flags=["cdr_below_margin"] if below else [],
    )


# --- ensemble (§2.10) ----------------------------------------------------------------------------


def judge_ensemble(run: JudgeRun):
    """Members' evidence oriented so that positive favours the pair's labelled chosen
    side (gold, else the current label): a verdict member's stored verdict, a scorer
    member's score difference over its standard deviation (``scorer_sd``, measured
    when the job started); μ, σ and the flag, in scorer units when every member is a
    scorer and in verdict units otherwise."""
    spreads = run.ctx.params.get("scorer_sd") or {}
    members = list(Judgment.objects.filter(pair=run.pair, judge_config__name__in=run.ctx.params["members"],
                                           judge_config__project=run.ctx.project, verdict__isnull=False)
                   .order_by("judge_config__name").values_list("judge_config__name", "verdict", "aspects"))
    label = run.pair.gold_verdict if run.pair.gold_verdict else run.pair.label_verdict
    labelled = bool(label)
    orientation = sign(label) if labelled else 1  # d = orientation·s is positive when it favours the chosen side
    if len(members) < max(2, min_members(run.judge)):
        return None  # not judged yet: a later job finds the pair again once more members have judged it
    entries = []
    for name, verdict, aspects in members:
        if name in spreads:
            delta = aspects["cdr"]["delta"]
            entries.append({"judge": name, "verdict": verdict, "kind": "scorer", "evidence": orientation * delta / spreads[name]})
        else:
            entries.append({"judge": name, "verdict": verdict, "kind": "verdict", "evidence": orientation * verdict})
    scorer_units = all(entry["kind"] == "scorer" for entry in entries)
    strength = ensemble_strength([entry["evidence"] for entry in entries], labelled=labelled, scorer_units=scorer_units)
    stored = [v for _, v, _ in members]
    verdict = round_half_toward_zero(sum(stored) / len(stored))
    agreeing = sum(1 for v in stored if sign(v) == sign(verdict)) / len(stored)
    return run.record(
        verdict=verdict, verdict_before_length_rule=verdict, parse_ok=True, confidence=agreeing,
        expected_verdict=sum(stored) / len(stored),
        rationale=f"{len(members)} members: μ = {strength.mu:.2f}, σ = {strength.sigma:.2f} → {strength.flag}",
        aspects={"ensemble": {
            "members": entries, "mu": strength.mu, "sigma": strength.sigma, "flag": strength.flag,
            "units": "scorer" if scorer_units else "verdict",
            "orientation": "positive favours the labelled chosen side" if labelled else "positive favours B (no label)",
            "label": label,
        }},
        flags=[strength.flag],
    )


RUNNERS = {
    JudgeConfig.Method.PAIRWISE: judge_pairwise,
    JudgeConfig.Method.RUBRIC: judge_rubric,
    JudgeConfig.Method.ASPECTS: judge_aspects,
    JudgeConfig.Method.CDR: judge_cdr,
    JudgeConfig.Method.ENSEMBLE: judge_ensemble,
}

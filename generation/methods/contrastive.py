"""``contrastive_filter`` (methods.md §2.6, CodecLM Contrastive Filtering).

A stronger and a weaker (target) model answer each prompt; a judge scores both 1–10
by option scoring, both display orders averaged; g = S(strong) − S(target).
g ≥ θ keeps the instruction: the strong answer becomes its SFT row and the pair
(sides by a seeded coin) gets a construction judgment, strong side better by 1, by
2 when g ≥ 2θ. g < θ sends the instruction back to Self-Rubrics for another round,
until ``max_rounds``; then it is dropped with the reason (in its metadata).
"""
from __future__ import annotations

from curation import services
from curation.hashing import pair_hash, seeded_coin
from curation.models import LLMCall, Prompt

from ..prompts import nonce, quote_block, template_get
from ..scoring import SCORE_OPTIONS_1_TO_10
from .base import DECODING_PARAMS, PROMPT_SELECTION_PARAMS, ItemContext, Method, Param, prompt_messages, prompt_items
from .codeclm import prompt_codeclm_metadata, self_rubric_round

CONTRASTIVE_JUDGE = "codeclm-contrastive"


def judge_score(ctx: ItemContext, step: str, prompt_text: str, shown: list[str], rated: int, model: str) -> tuple[float, int]:
    """A 1–10 score of response ``rated`` (0 or 1) among the two shown, by option scoring:
    the expected value of the softmax over "1/10" … "10/10" after "Score: "."""
    template = template_get("score-1-10")
    tag = nonce(ctx.job.pk, ctx.item.key, step)
    blocks = "\n\n".join(quote_block(f"response-{i + 1}", text, tag) for i, text in enumerate(shown))
    context = [
        {"role": "user", "content": template.render(prompt=prompt_text, responses_block=blocks, target=f"Response {rated + 1}")},
        {"role": "assistant", "content": "Score: "},
    ]
    distribution, call = ctx.option_distribution(step, context, SCORE_OPTIONS_1_TO_10, suffix="/10", template=template, model=model)
    return distribution.expected(), call.pk


def both_orders_scores(ctx: ItemContext, step: str, prompt_text: str, strong: str, target: str, model: str) -> dict:
    """S(strong) and S(target), each the mean over the two display orders."""
    s1, c1 = judge_score(ctx, f"{step}-ab-1", prompt_text, [strong, target], 0, model)
    t1, c2 = judge_score(ctx, f"{step}-ab-2", prompt_text, [strong, target], 1, model)
    t2, c3 = judge_score(ctx, f"{step}-ba-1", prompt_text, [target, strong], 0, model)
    s2, c4 = judge_score(ctx, f"{step}-ba-2", prompt_text, [target, strong], 1, model)
    return {"strong": (s1 + s2) / 2, "target": (t1 + t2) / 2, "llm_calls": [c1, c2, c3, c4]}


def construction_strength(gap: float, theta: float) -> int:
    return 2 if gap >= 2 * theta else 1


class ContrastiveFilter(Method):
    name = "contrastive_filter"
    label = "Contrastive filtering (CodecLM)"
    description = "Keep prompts where a stronger and a weaker model differ most by a judge's 1–10 score gap."
    needs = ("generate", "score")
    params = (
        Param("strong_model", "str", "", "the stronger generator; empty: the project's default model"),
        Param("target_model", "str", "", "the weaker (target) generator; empty: the project's default model"),
        Param("judge_model", "str", "", "the judge that scores 1–10; empty: the project's default model"),
        Param("theta", "float", 2.0, "keep when S(strong) − S(target) ≥ theta", minimum=0),
        Param("max_rounds", "int", 3, "Self-Rubrics rounds before a prompt is dropped", minimum=1, maximum=10),
        *DECODING_PARAMS,
        *PROMPT_SELECTION_PARAMS,
    )

    def clean_params(self, project, raw: dict) -> dict:
        cleaned = super().clean_params(project, raw)
        for name in ("strong_model", "target_model", "judge_model"):
            cleaned[name] = cleaned[name] or cleaned["model"]
        return cleaned

    def plan(self, job):
        return prompt_items(job, "prompt")

    def run_item(self, ctx: ItemContext) -> None:
        original = Prompt.objects.get(pk=ctx.payload["prompt_id"], project=ctx.project)
        params = ctx.params
        current, rounds = original, []
        for round_number in range(1, params["max_rounds"] + 1):
            step = f"r{round_number}"
            messages = prompt_messages(current)
            strong = ctx.generate(f"{step}-strong", [ctx.request(messages, index=0)], model=params["strong_model"])[0]
            target = ctx.generate(f"{step}-target", [ctx.request(messages, index=1)], model=params["target_model"])[0]
            scores = both_orders_scores(ctx, step, current.text, strong.output, target.output, params["judge_model"])
            gap = scores["strong"] - scores["target"]
            rounds.append({"round": round_number, "prompt_id": current.pk, "strong": scores["strong"],
                           "target": scores["target"], "gap": gap})
            if gap >= params["theta"] and strong.output.strip() and target.output.strip():
                self._keep(ctx, current, strong, target, gap, scores, rounds)
                return
            if round_number < params["max_rounds"]:
                current = self_rubric_round(ctx, current, prompt_codeclm_metadata(current), f"{step}-rubric",
                                            round_number, model=params["strong_model"])
        reason = f"score gap {gap:.2f} < theta {params['theta']:g} after {params['max_rounds']} rounds"
        services.prompt_metadata_merge(prompt=current, values={"contrastive_filter": {"kept": False, "reason": reason, "rounds": rounds}})
        ctx.count("prompts_dropped")
        ctx.details.update(kept=False, reason=reason)

    def _keep(self, ctx, prompt, strong_call, target_call, gap, scores, rounds) -> None:
        params = ctx.params
        strong, created = services.response_add(
            prompt=prompt, text=strong_call.output, producer=params["strong_model"], params=strong_call.params,
            n_tokens=strong_call.n_output_tokens, finish_reason=strong_call.finish_reason, llm_call=strong_call,
            generation_job=ctx.job,
        )
        ctx.count("responses", created)
        target, created = services.response_add(
            prompt=prompt, text=target_call.output, producer=params["target_model"], params=target_call.params,
            n_tokens=target_call.n_output_tokens, finish_reason=target_call.finish_reason, llm_call=target_call,
            generation_job=ctx.job,
        )
        ctx.count("responses", created)
        services.prompt_metadata_merge(prompt=prompt, values={"contrastive_filter": {
            "kept": True, "gap": gap, "rounds": rounds, "sft_response_id": strong.pk}})
        ctx.count("prompts_kept")
        if strong.pk == target.pk:
            return
        key = pair_hash(prompt.content_hash, strong.content_hash, target.content_hash)
        pair, created = services.pair_add(
            prompt=prompt, first=strong, second=target, origin="contrastive_filter",
            swap=seeded_coin(params["seed"], key), metadata={"contrastive_filter": {"gap": gap}}, generation_job=ctx.job,
        )
        ctx.count("pairs", created)
        magnitude = construction_strength(gap, params["theta"])
        verdict = -magnitude if pair.response_a_id == strong.pk else magnitude
        judge = services.judge_config_construction(project=ctx.project, name=CONTRASTIVE_JUDGE, params={"theta": params["theta"]})
        calls = LLMCall.objects.filter(pk__in=[strong_call.pk, target_call.pk, *scores["llm_calls"]])
        _, created = services.judgment_record_construction(
            pair=pair, judge_config=judge, verdict=verdict, generation_job=ctx.job, llm_calls=calls,
            rationale=f"Constructed: the strong model's answer scored {scores['strong']:.2f} against {scores['target']:.2f}.",
        )
        ctx.count("judgments", created)
        services.pairs_added(pair_ids=[pair.pk])
        ctx.details.update(kept=True, pair=pair.pk, gap=gap)

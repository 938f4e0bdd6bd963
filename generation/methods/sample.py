"""``sample`` (methods.md §2.1): N responses per prompt, then pairs.

Issue 4 sets the default N to 2 (methods.md says 4): pass ``n=4`` for the paper's
setting. Generator configs are models × temperatures; sample i uses config
i mod (number of configs).
"""
from __future__ import annotations

import itertools
from collections import defaultdict

from django.db.models import Avg

from curation import services
from curation.hashing import pair_hash, seeded_coin
from curation.models import Judgment, Prompt, Response, Score

from ..prompts import quote_block, template_get
from .base import DECODING_PARAMS, PROMPT_SELECTION_PARAMS, ItemContext, Method, Param, ParamError, derived_seed, prompt_messages, selected_prompts

PAIRINGS = ("random", "all", "best_worst")


class Sample(Method):
    name = "sample"
    label = "Sample responses and pair them"
    description = "N responses per prompt from one or more models/temperatures, then pairs."
    params = (
        Param("n", "int", 2, "responses per prompt (0 with best_worst: pair existing responses only)", minimum=0, maximum=64),
        *DECODING_PARAMS,
        Param("models", "strs", [], "several generator models (comma-separated); empty: `model`"),
        Param("temperatures", "floats", [], "several temperatures (comma-separated); empty: `temperature`"),
        Param("pairing", "str", "random", "all, random (k per prompt) or best_worst", choices=PAIRINGS),
        Param("k", "int", 1, "pairs per prompt with random pairing", minimum=1),
        Param("min_gap", "float", 0.0, "best_worst: best − worst score must exceed this", minimum=0),
        Param("diverse", "bool", False, "sample i sees samples 1..i−1 and is asked for a different approach"),
        Param("same_producer_only", "bool", False, "pair only responses of the same model"),
        Param("unpaired_only", "bool", False, "only prompts that have no pair yet"),
        Param("prompts_per_item", "int", 4, "prompts per job item, generated as one batch", minimum=1, maximum=256),
        *PROMPT_SELECTION_PARAMS,
    )

    def validate(self, params: dict) -> None:
        if params["n"] < 2 and params["pairing"] != "best_worst":
            raise ParamError("parameter n: at least 2 responses per prompt are needed to make pairs")

    def plan(self, job):
        prompts = selected_prompts(job.project, job.params)
        if job.params.get("unpaired_only"):
            prompts = prompts.filter(pairs__isnull=True)
        ids = prompts.values_list("id", flat=True).iterator()
        size = job.params["prompts_per_item"]
        while chunk := list(itertools.islice(ids, size)):
            yield f"prompts:{chunk[0]}", {"prompt_ids": chunk}

    def run_item(self, ctx: ItemContext) -> None:
        prompts = list(Prompt.objects.filter(pk__in=ctx.payload["prompt_ids"], project=ctx.project).order_by("id"))
        if not ctx.params["n"]:
            calls = {}
        elif ctx.params["diverse"]:
            calls = {prompt.pk: self._sample_diverse(ctx, prompt) for prompt in prompts}
        else:
            calls = self._sample_batched(ctx, prompts)
        pair_ids = []
        for prompt in prompts:
            responses = self._responses(ctx, prompt, calls.get(prompt.pk, {}))
            for first, second in self._pairs(ctx, prompt, responses):
                key = pair_hash(prompt.content_hash, first.content_hash, second.content_hash)
                pair, created = services.pair_add(
                    prompt=prompt, first=first, second=second, origin="sample",
                    swap=seeded_coin(ctx.params["seed"], key), generation_job=ctx.job,
                )
                ctx.count("pairs", created)
                pair_ids.append(pair.pk)
        if pair_ids:
            services.pairs_added(pair_ids=pair_ids)
        ctx.details["pairs"] = pair_ids

    def _generators(self, params: dict) -> list[tuple[str, float]]:
        models = params["models"] or [params["model"]]
        temperatures = params["temperatures"] or [params["temperature"]]
        return list(itertools.product(models, temperatures))

    @staticmethod
    def _request(ctx: ItemContext, prompt: Prompt, messages: list[dict], i: int, temperature: float):
        """Seeds follow the prompt and the sample index, not the item, so outputs do not
        depend on how prompts are grouped into items."""
        seed = derived_seed(ctx.params["seed"], prompt.content_hash, i)
        return ctx.request(messages, seed=seed, temperature=temperature)

    def _sample_batched(self, ctx: ItemContext, prompts: list[Prompt]) -> dict[int, dict]:
        """All samples of all the item's prompts, one batch per model."""
        generators = self._generators(ctx.params)
        by_model: dict[str, list[tuple[Prompt, int, float]]] = defaultdict(list)
        for prompt in prompts:
            for i in range(ctx.params["n"]):
                model, temperature = generators[i % len(generators)]
                by_model[model].append((prompt, i, temperature))
        calls: dict[int, dict] = defaultdict(dict)  # prompt id → sample index → (LLMCall, model, temperature)
        for model, rows in by_model.items():
            requests = [self._request(ctx, p, prompt_messages(p), i, t) for p, i, t in rows]
            made = ctx.generate("sample", requests, model=model, indices=[f"p{p.pk}-{i}" for p, i, _ in rows])
            for (prompt, i, temperature), call in zip(rows, made):
                calls[prompt.pk][i] = (call, model, temperature)
        return calls

    def _sample_diverse(self, ctx: ItemContext, prompt: Prompt) -> dict[int, tuple]:
        """Sample i sees samples 1..i−1 and is asked for a different approach: one at a time."""
        generators = self._generators(ctx.params)
        template = template_get("sample-diverse")
        calls, earlier = {}, []
        for i in range(ctx.params["n"]):
            model, temperature = generators[i % len(generators)]
            turn, used = prompt_messages(prompt), None
            if earlier:
                blocks = "\n".join(quote_block("answer", text, f"{i}-{j}") for j, text in enumerate(earlier))
                turn = [{"role": "user", "content": template.render(prompt=prompt.text, earlier=blocks)}]
                used = template
            request = self._request(ctx, prompt, turn, i, temperature)
            call = ctx.generate("sample", [request], template=used, model=model, indices=[f"p{prompt.pk}-{i}"])[0]
            calls[i] = (call, model, temperature)
            earlier.append(call.output)
        return calls

    def _responses(self, ctx: ItemContext, prompt: Prompt, calls: dict[int, tuple]) -> list[Response]:
        """Responses from the calls: empty outputs dropped, normalised duplicates merged."""
        responses: list[Response] = []
        for i in sorted(calls):
            call, model, temperature = calls[i]
            if not call.output.strip():
                ctx.count("empty_dropped")
                continue
            response, created = services.response_add(
                prompt=prompt, text=call.output, producer=model, params={**call.params, "temperature": temperature},
                n_tokens=call.n_output_tokens, finish_reason=call.finish_reason, llm_call=call, generation_job=ctx.job,
            )
            ctx.count("responses", created)
            if response not in responses:
                responses.append(response)
        return responses

    def _pairs(self, ctx: ItemContext, prompt: Prompt, responses: list[Response]) -> list[tuple[Response, Response]]:
        pairing = ctx.params["pairing"]
        if pairing == "best_worst":
            return best_worst_pair(prompt, ctx.params["min_gap"], ctx.params["same_producer_only"])
        candidates = [
            (x, y) for x, y in itertools.combinations(responses, 2)
            if not ctx.params["same_producer_only"] or x.producer == y.producer
        ]
        if pairing == "all":
            return candidates
        ctx.rng("pairing", prompt.pk).shuffle(candidates)
        return candidates[: ctx.params["k"]]


def response_scores(prompt: Prompt) -> dict[int, float]:
    """Per-response score: the mean pointwise Score when there is one, else the mean
    oriented verdict over the judged pairs it is in (positive = this response better)."""
    scores = dict(
        Score.objects.filter(response__prompt=prompt, value__isnull=False)
        .values_list("response_id").annotate(mean=Avg("value")).values_list("response_id", "mean")
    )
    if scores:
        return scores
    totals: dict[int, list[float]] = defaultdict(list)
    for a, b, verdict in Judgment.objects.filter(pair__prompt=prompt, verdict__isnull=False).values_list(
        "pair__response_a_id", "pair__response_b_id", "verdict"
    ):
        totals[a].append(-verdict)
        totals[b].append(verdict)
    return {rid: sum(v) / len(v) for rid, v in totals.items()}


def best_worst_pair(prompt: Prompt, min_gap: float, same_producer_only: bool) -> list[tuple[Response, Response]]:
    scores = response_scores(prompt)
    if len(scores) < 2:
        return []
    responses = {r.pk: r for r in Response.objects.filter(pk__in=scores)}
    groups = defaultdict(list)
    for rid in scores:
        groups[responses[rid].producer if same_producer_only else ""].append(rid)
    pairs = []
    for ids in groups.values():
        if len(ids) < 2:
            continue
        best = max(ids, key=lambda r: (scores[r], -r))
        worst = min(ids, key=lambda r: (scores[r], r))
        if best != worst and scores[best] - scores[worst] > min_gap:
            pairs.append((responses[best], responses[worst]))
    return pairs

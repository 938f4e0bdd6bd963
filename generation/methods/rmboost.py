"""``rmboost`` (methods.md §2.2): preference-conditional pairs (RMBoost).

Take a reference response A (an existing one, or a generated one), draw the intended
relation (better/worse), its strength (slight/much) and k aspects, and ask the model
for a new answer deliberately better or worse on exactly those aspects. The pair's
intended preference is stored as a Judgment of the construction judge
``rmboost-intent`` — counted as AI, never as human.
"""
from __future__ import annotations

import re

from curation import services
from curation.hashing import pair_hash, seeded_coin
from curation.models import Prompt, Response

from ..prompts import nonce, quote_block
from .base import DECODING_PARAMS, PROMPT_SELECTION_PARAMS, ItemContext, Method, Param, ParamError, prompt_messages, prompt_items

DEFAULT_ASPECTS = ["helpfulness", "relevance", "completeness", "correctness", "clarity", "safety"]
INTENT_JUDGE = "rmboost-intent"
ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
ANSWER_OPEN = re.compile(r"<answer>", re.I)


def extract_answer(output: str) -> tuple[str, bool]:
    """The answer from the last ``<answer>…</answer>`` block (or after a lone opening tag).

    Returns (text, delimited). Without any tag the whole output is the answer and
    ``delimited`` is False, which is kept in the response's conditioning.
    """
    blocks = ANSWER_BLOCK.findall(output)
    if blocks:
        return blocks[-1].strip(), True
    opened = list(ANSWER_OPEN.finditer(output))
    if opened:
        return output[opened[-1].end():].strip(), True
    return output.strip(), False


def intent_verdict(*, relation: str, strength: str, new_in_slot_a: bool) -> int:
    """Stored-orientation verdict of the intent: the reference wins when the new answer
    was asked to be worse; |s| = 1 for slight, 2 for much; negative = A better."""
    new_wins = relation == "better"
    magnitude = 1 if strength == "slight" else 2
    a_wins = new_wins == new_in_slot_a
    return -magnitude if a_wins else magnitude


class RMBoost(Method):
    name = "rmboost"
    label = "Preference-conditional pairs (RMBoost)"
    description = "A second response deliberately better or worse than a reference on k aspects; the intent is stored."
    params = (
        Param("reference", "str", "existing", "existing (the prompt's first response, else generate) or generate",
              choices=("existing", "generate")),
        Param("aspects", "strs", DEFAULT_ASPECTS, "the aspect pool (comma-separated)"),
        Param("k", "int", 2, "aspects drawn per pair", minimum=1),
        *DECODING_PARAMS,
        *PROMPT_SELECTION_PARAMS,
    )

    def validate(self, params: dict) -> None:
        if params["k"] > len(params["aspects"]):
            raise ParamError(f"parameter k: {params['k']} aspects cannot be drawn from a pool of {len(params['aspects'])}")

    def plan(self, job):
        return prompt_items(job, "prompt")

    def run_item(self, ctx: ItemContext) -> None:
        prompt = Prompt.objects.get(pk=ctx.payload["prompt_id"], project=ctx.project)
        model = ctx.params["model"]
        reference = self._reference(ctx, prompt)
        rng = ctx.rng("intent")
        relation = rng.choice(["better", "worse"])
        strength = rng.choice(["slight", "much"])
        aspects = rng.sample(list(ctx.params["aspects"]), ctx.params["k"])
        strength_word = "slightly" if strength == "slight" else "much"
        tag = nonce(ctx.job.pk, ctx.item.key)
        call = ctx.generate_one(
            "conditional", "rmboost-conditional",
            prompt=prompt.text,
            reference_block=quote_block("reference", reference.text, tag),
            strength_word=strength_word,
            relation=relation,
            aspects=", ".join(aspects),
        )
        answer, delimited = extract_answer(call.output)
        if not answer:
            raise ValueError("the model's conditional answer is empty")
        conditioning = {
            "relation": relation, "strength": strength, "aspects": aspects,
            "reference_id": reference.pk, "delimited": delimited,
        }
        new, created = services.response_add(
            prompt=prompt, text=answer, producer=model, params=call.params, conditioning=conditioning,
            n_tokens=call.n_output_tokens, finish_reason=call.finish_reason, llm_call=call,
            parent_response=reference, generation_job=ctx.job,
        )
        ctx.count("responses", created)
        if new.pk == reference.pk:
            raise ValueError("the conditional answer is identical to the reference; no pair")
        key = pair_hash(prompt.content_hash, reference.content_hash, new.content_hash)
        pair, created = services.pair_add(
            prompt=prompt, first=reference, second=new, origin="rmboost",
            swap=seeded_coin(ctx.params["seed"], key), metadata={"rmboost": conditioning}, generation_job=ctx.job,
        )
        ctx.count("pairs", created)
        verdict = intent_verdict(relation=relation, strength=strength, new_in_slot_a=pair.response_a_id == new.pk)
        judge = services.judge_config_construction(project=ctx.project, name=INTENT_JUDGE, params={"aspects": ctx.params["aspects"]})
        _, created = services.judgment_record_construction(
            pair=pair, judge_config=judge, verdict=verdict, generation_job=ctx.job, llm_calls=[call],
            rationale=f"Constructed: the new answer was asked to be {strength_word} {relation} on {', '.join(aspects)}.",
        )
        ctx.count("judgments", created)
        services.pairs_added(pair_ids=[pair.pk])
        ctx.details.update(pair=pair.pk, intent=verdict)

    def _reference(self, ctx: ItemContext, prompt: Prompt) -> Response:
        if ctx.params["reference"] == "existing":
            existing = prompt.responses.order_by("id").first()
            if existing is not None:
                return existing
        call = ctx.generate("reference", [ctx.request(prompt_messages(prompt))])[0]
        if not call.output.strip():
            raise ValueError("the generated reference answer is empty")
        response, created = services.response_add(
            prompt=prompt, text=call.output, producer=ctx.params["model"], params=call.params,
            n_tokens=call.n_output_tokens, finish_reason=call.finish_reason, llm_call=call, generation_job=ctx.job,
        )
        ctx.count("responses", created)
        return response

"""The transformers backend on the real default model (short: a few tokens each)."""
import math

import pytest
from django.core.management import call_command

from generation.backends import GenerateRequest, get_backend
from generation.scoring import option_distribution

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2(django_db_blocker):
    with django_db_blocker.unblock():
        call_command("prepare_model", verbosity=0)
    return get_backend("SmolLM2-135M-Instruct", backend="transformers")


def test_left_padded_batch_matches_one_at_a_time(smollm2):
    prompts = ["Name a colour.", "What is the capital of France? Answer in one word, please, thank you."]
    requests = [GenerateRequest(messages=[{"role": "user", "content": p}], max_new_tokens=8, temperature=0) for p in prompts]
    batched = smollm2.generate(requests)
    single = [smollm2.generate([r])[0] for r in requests]
    assert [r.text for r in batched] == [r.text for r in single]
    assert all(0 < r.n_output_tokens <= 8 for r in batched) and batched[1].n_prompt_tokens > batched[0].n_prompt_tokens
    assert "Paris" in batched[1].text


def test_sampling_is_seeded_and_logprobs_cover_the_output(smollm2):
    request = GenerateRequest(messages=[{"role": "user", "content": "Say something."}], max_new_tokens=6, seed=5, logprobs=True)
    first, again = smollm2.generate([request])[0], smollm2.generate([request])[0]
    assert first.text == again.text
    assert len(first.token_logprobs) == first.n_output_tokens and all(lp <= 0 for lp in first.token_logprobs)
    assert first.finish_reason in ("stop", "length")


def test_score_returns_one_logprob_per_continuation_token(smollm2):
    """The off-by-one at the prompt boundary: token i of the continuation is predicted by
    the logits at the position before it."""
    import torch

    context = [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "The answer is "}]
    continuation = "4, of course."
    scores = smollm2.score(context, continuation)
    tokenizer = smollm2.tokenizer
    continuation_ids = tokenizer(continuation, add_special_tokens=False).input_ids
    assert len(scores) == len(continuation_ids)
    assert all(s < 0 and math.isfinite(s) for s in scores)
    context_ids = tokenizer(smollm2.render_prompt(context), add_special_tokens=False).input_ids
    with torch.inference_mode():
        logits = smollm2.lm(input_ids=torch.tensor([context_ids])).logits[0, -1]
    assert scores[0] == pytest.approx(torch.log_softmax(logits.float(), -1)[continuation_ids[0]].item(), abs=1e-3)
    assert smollm2.score_many([(context, "4")])[0][0] > smollm2.score_many([(context, "7")])[0][0]
    distribution = option_distribution(smollm2, context, tuple("123456789"))
    assert distribution.best == "4" and sum(distribution.probabilities) == pytest.approx(1.0)


def test_single_token_options_after_one_context_take_one_pass_with_the_same_numbers(smollm2):
    """A judge's five verdict options share one context: the one-pass path gives what the
    general path (one sequence per option) gives."""
    context = [{"role": "user", "content": "Which reply is better?"}, {"role": "assistant", "content": "VERDICT: "}]
    together = smollm2.score_many([(context, d) for d in "12345"])
    one_by_one = [smollm2.score(context, d) for d in "12345"]
    assert [len(s) for s in together] == [1] * 5
    assert [s[0] for s in together] == pytest.approx([s[0] for s in one_by_one], abs=1e-4)

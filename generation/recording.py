"""Every model call is an LLMCall; a call with a known ``call_key`` is made once.

``recorded_generate`` and ``recorded_option_distribution`` take the keys of the
calls they make (job item + step + run index, see ``ItemContext.key``). A key
that already has a successful LLMCall is not sent to the model again: its stored
output is reused, so an item retried after a crash or duplicated by the broker
costs no second model call and yields the same text. A failed call is recorded
with its error and is re-run (and its row updated) on the next attempt.
"""
from __future__ import annotations

import time

from curation.hashing import sha256_hex
from curation.models import LLMCall

from .backends.base import Backend, Context, GenerateRequest
from .prompts import Template
from .scoring import OptionDistribution, distribution_from_token_logprobs


def _provenance(backend: Backend, template: Template | None, project, job) -> dict:
    return {
        "project": project,
        "job": job,
        "backend": backend.name,
        "model": backend.model[:300],
        "model_revision": backend.model_revision,
        "template_name": template.name if template else "",
        "template_version": str(template.version) if template else "",
    }


def recorded_generate(
    *,
    keys: list[str],
    requests: list[GenerateRequest],
    backend: Backend,
    template: Template | None = None,
    project=None,
    job=None,
) -> list[LLMCall]:
    """Generate for the requests whose key has no successful call yet (as one batch),
    record each call, and return the LLMCalls in request order. Raises the
    backend's error after recording it on every call of the failed batch."""
    assert len(keys) == len(requests)
    existing = {c.call_key: c for c in LLMCall.objects.filter(call_key__in=keys, error="")}
    missing = [i for i, key in enumerate(keys) if key not in existing]
    if missing:
        common = _provenance(backend, template, project, job)
        batch = [requests[i] for i in missing]
        started = time.monotonic()
        try:
            results = backend.generate(batch)
        except Exception as error:
            elapsed = int((time.monotonic() - started) * 1000)
            for i in missing:
                prompt_text = backend.render_prompt(requests[i].messages)
                LLMCall.objects.update_or_create(
                    call_key=keys[i],
                    defaults={
                        **common,
                        "kind": "generate",
                        "params": requests[i].params(),
                        "seed": requests[i].seed,
                        "prompt_hash": sha256_hex(prompt_text),
                        "prompt_text": prompt_text,
                        "output": "",
                        "latency_ms": elapsed,
                        "error": f"{type(error).__name__}: {error}"[:2000],
                    },
                )
            raise
        elapsed = int((time.monotonic() - started) * 1000)
        for i, result in zip(missing, results):
            request = requests[i]
            prompt_text = result.prompt_text or backend.render_prompt(request.messages)
            call, _ = LLMCall.objects.update_or_create(
                call_key=keys[i],
                defaults={
                    **common,
                    "kind": "generate",
                    "params": {**request.params(), "batch_size": len(batch)},
                    "seed": request.seed,
                    "prompt_hash": sha256_hex(prompt_text),
                    "prompt_text": prompt_text,
                    "output": result.text,
                    "logprobs": result.token_logprobs,
                    "n_prompt_tokens": result.n_prompt_tokens,
                    "n_output_tokens": result.n_output_tokens,
                    "finish_reason": result.finish_reason[:30],
                    "latency_ms": elapsed,  # of the whole batch this call was part of
                    "error": "",
                },
            )
            existing[keys[i]] = call
    return [existing[key] for key in keys]


def recorded_option_distribution(
    *,
    key: str,
    backend: Backend,
    context: Context,
    options: tuple[str, ...],
    suffix: str = "",
    template: Template | None = None,
    project=None,
    job=None,
) -> tuple[OptionDistribution, LLMCall]:
    """Option scoring (``generation.scoring``) recorded as one ``kind=score`` LLMCall
    whose ``logprobs`` hold every option's token log-probs."""
    call = LLMCall.objects.filter(call_key=key, error="").first()
    if call is not None:
        stored = call.logprobs or {}
        return distribution_from_token_logprobs(tuple(stored["options"]), stored["token_logprobs"]), call
    prompt_text = backend.render_prompt(context)
    defaults = {
        **_provenance(backend, template, project, job),
        "kind": "score",
        "params": {"options": list(options), "suffix": suffix},
        "prompt_hash": sha256_hex(prompt_text),
        "prompt_text": prompt_text,
    }
    started = time.monotonic()
    try:
        token_logprobs = backend.score_many([(context, option + suffix) for option in options])
    except Exception as error:
        LLMCall.objects.update_or_create(
            call_key=key,
            defaults={**defaults, "latency_ms": int((time.monotonic() - started) * 1000),
                      "error": f"{type(error).__name__}: {error}"[:2000]},
        )
        raise
    distribution = distribution_from_token_logprobs(options, token_logprobs)
    call, _ = LLMCall.objects.update_or_create(
        call_key=key,
        defaults={
            **defaults,
            "output": distribution.best,
            "logprobs": {"options": list(options), "token_logprobs": token_logprobs, **distribution.as_dict()},
            "n_output_tokens": sum(len(t) for t in token_logprobs),
            "latency_ms": int((time.monotonic() - started) * 1000),
            "error": "",
        },
    )
    return distribution, call

"""A scripted backend for tests: no model, exact and reproducible answers.

``FakeBackend(script=[...])`` answers generate requests with the scripted texts in
order (cycling when ``cycle=True``); without a script it answers with a text derived
from the last message and the seed, so different seeds give different responses.
Scores: ``scores`` maps a continuation to its token log-probs (default: one token,
log-prob −1 per character), or ``score_fn(context, continuation)`` computes them;
``score_script=[{"1": -3.0, "2": -0.1, ...}, ...]`` scripts option scoring: each
``score_many`` call takes the next dict and gives each continuation found in it that
one-token log-prob (a judge's verdict or rating options, in call order).

``CONCORD_BACKEND=fake`` selects it through settings (used by the worker tests);
``CONCORD_FAKE_DELAY`` (seconds per request) makes a job slow enough to kill mid-way.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from .base import Backend, BackendError, Context, GenerateRequest, GenerateResult


class FakeBackend(Backend):
    name = "fake"
    supports_logprobs = True
    supports_score = True

    def __init__(
        self,
        model: str = "fake-model",
        *,
        script: list[str | Exception] | None = None,
        cycle: bool = False,
        scores: dict[str, list[float]] | None = None,
        score_fn: Callable[[Context, str], list[float]] | None = None,
        score_script: list[dict[str, float]] | None = None,
        delay: float = 0.0,
        supports_score: bool = True,
        supports_logprobs: bool = True,
    ):
        super().__init__(model)
        self.script = list(script or [])
        self.cycle = cycle
        self.scores = scores or {}
        self.score_fn = score_fn
        self.score_script = list(score_script or [])
        self.delay = delay
        self.supports_score = supports_score
        self.supports_logprobs = supports_logprobs
        self.requests: list[GenerateRequest] = []  # every request seen, for assertions
        self.scored: list[tuple[Context, str]] = []
        self._position = 0

    def generate(self, requests: list[GenerateRequest]) -> list[GenerateResult]:
        results = []
        for request in requests:
            if self.delay:
                time.sleep(self.delay)
            self.requests.append(request)
            text = self._next_text(request)
            words = text.split()
            results.append(
                GenerateResult(
                    text=text,
                    n_prompt_tokens=sum(len(m["content"].split()) for m in request.messages),
                    n_output_tokens=len(words),
                    finish_reason="stop",
                    token_logprobs=[-0.5] * len(words) if request.logprobs else None,
                    prompt_text=self.render_prompt(request.messages),
                )
            )
        return results

    def _next_text(self, request: GenerateRequest) -> str:
        if self.script:
            if self._position >= len(self.script):
                if not self.cycle:
                    raise BackendError("FakeBackend script exhausted")
                self._position = 0
            item = self.script[self._position]
            self._position += 1
            if isinstance(item, Exception):
                raise item
            return item
        last = request.messages[-1]["content"]
        digest = hashlib.sha256(f"{last}|{request.seed}".encode()).hexdigest()[:8]
        return f"Answer {digest}: a short reply to \"{last[:40]}\"."

    def score_many(self, items: list[tuple[Context, str]]) -> list[list[float]]:
        if not self.supports_score:
            return super().score_many(items)
        scripted = self.score_script.pop(0) if self.score_script else {}
        out = []
        for context, continuation in items:
            self.scored.append((context, continuation))
            if continuation in scripted:
                out.append([scripted[continuation]])
            elif self.score_fn is not None:
                out.append(self.score_fn(context, continuation))
            elif continuation in self.scores:
                out.append(list(self.scores[continuation]))
            else:
                out.append([-1.0 * len(continuation)])
        return out

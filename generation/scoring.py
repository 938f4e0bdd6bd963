"""Option scoring: read a judge's answer from log-probs instead of parsing text.

After a context that ends where the answer goes (``... Score: ``), each option
(``"1"`` … ``"10"``) is scored as a continuation; the options' total log-probs are
normalised with a softmax into a distribution, whose argmax is the answer and whose
mean is the expected score. A rambling small model still yields a valid
distribution (methods.md §0, §2.3).

``suffix`` is scored after every option so that options that are prefixes of each
other compare fairly: ``"1/10"`` against ``"10/10"``, not ``"1"`` against ``"10"``
(``p("1") ≥ p("10")`` always holds for the bare digits).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .backends.base import Backend, Context

SCORE_OPTIONS_1_TO_10 = tuple(str(n) for n in range(1, 11))


@dataclass
class OptionDistribution:
    options: tuple[str, ...]
    logprobs: list[float]  # total log-prob of each option (+ suffix)
    probabilities: list[float]  # softmax over the options

    @property
    def best(self) -> str:
        return self.options[max(range(len(self.options)), key=self.probabilities.__getitem__)]

    def expected(self, values: list[float] | None = None) -> float:
        """Σ value·p; values default to the options read as numbers."""
        values = values if values is not None else [float(o) for o in self.options]
        return sum(v * p for v, p in zip(values, self.probabilities))

    def as_dict(self) -> dict:
        return {"options": list(self.options), "logprobs": self.logprobs, "probabilities": self.probabilities}


def softmax(values: list[float]) -> list[float]:
    top = max(values)
    if top == -math.inf:
        return [1.0 / len(values)] * len(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def distribution_from_token_logprobs(options: tuple[str, ...], token_logprobs: list[list[float]]) -> OptionDistribution:
    totals = [sum(lps) for lps in token_logprobs]
    return OptionDistribution(options=tuple(options), logprobs=totals, probabilities=softmax(totals))


def option_distribution(
    backend: Backend, context: Context, options: tuple[str, ...] = SCORE_OPTIONS_1_TO_10, suffix: str = ""
) -> OptionDistribution:
    """Score every option after ``context`` with ``backend.score_many`` (one batch)."""
    token_logprobs = backend.score_many([(context, option + suffix) for option in options])
    return distribution_from_token_logprobs(options, token_logprobs)

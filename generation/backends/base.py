"""The interface every model backend implements (methods.md §0 "Backends").

Two calls:

* ``generate(requests)`` — batched chat generation. Each :class:`GenerateRequest`
  carries its messages and decoding parameters; the result list has one
  :class:`GenerateResult` per request, in order.
* ``score(context, continuation)`` — the log-probabilities of the *continuation's*
  tokens only, given the context (a chat or a raw text). Position ``i`` of the
  result is ``log p(token_i | context, token_<i)``; the list has exactly as many
  entries as the continuation has tokens. ``score_many`` batches several.

Capabilities are class-level flags so a job can be refused at start, in the web
process, without loading a model: :func:`generation.backends.backend_capabilities`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

Messages = list[dict]
Context = Union[Messages, str]


class BackendError(Exception):
    """A model call failed (server error after retries, bad output, out of memory)."""


class CapabilityMissing(BackendError):
    """The backend cannot do what a method needs (e.g. ``score`` without log-probs)."""


@dataclass(frozen=True)
class GenerateRequest:
    """One chat generation. ``messages`` are ``{"role", "content"}`` dicts; when the
    last one is an assistant message, the model continues it (a prefilled answer)."""

    messages: Messages
    max_new_tokens: int = 512
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: bool = False

    def params(self) -> dict:
        """Decoding parameters as recorded on the LLMCall."""
        return {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop),
            "logprobs": self.logprobs,
        }


@dataclass
class GenerateResult:
    text: str
    n_prompt_tokens: int | None = None
    n_output_tokens: int | None = None
    finish_reason: str = ""  # "stop" (end of turn or a stop string) or "length"
    token_logprobs: list[float] | None = None
    prompt_text: str = ""  # the exact text the model saw, when the backend knows it
    extra: dict = field(default_factory=dict)


class Backend:
    """Base class: subclasses set the flags and implement ``generate`` and, when
    ``supports_score``, ``score_many``."""

    name = "base"
    supports_logprobs = False  # generate() can return token log-probs
    supports_score = False  # score()/score_many() are available

    def __init__(self, model: str):
        self.model = model

    @property
    def model_revision(self) -> str:
        return ""

    def generate(self, requests: list[GenerateRequest]) -> list[GenerateResult]:
        raise NotImplementedError

    def score(self, context: Context, continuation: str) -> list[float]:
        """Log-probs of the continuation's tokens (one float per token)."""
        return self.score_many([(context, continuation)])[0]

    def score_many(self, items: list[tuple[Context, str]]) -> list[list[float]]:
        raise CapabilityMissing(f"the {self.name} backend cannot score continuations")

    def render_prompt(self, context: Context) -> str:
        """The text recorded as the LLMCall prompt (the chat template when known)."""
        if isinstance(context, str):
            return context
        return "\n".join(f"<{m['role']}>\n{m['content']}" for m in context)

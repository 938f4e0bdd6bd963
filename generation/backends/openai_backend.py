"""Any OpenAI-compatible server (vLLM, TGI, llama.cpp server) by base URL and model.

This is how Concord scales past one machine: GPU hosts serve models, Concord's
workers call them. Requests of one batch go out concurrently (at most
``concurrency`` at a time); 429 and 5xx answers and connection errors are retried
with exponential backoff (honouring ``Retry-After``).

``score`` reads prompt log-probs: for a text context from ``/v1/completions`` with
``echo`` and ``logprobs``; for a chat from ``/v1/chat/completions`` with vLLM's
``prompt_logprobs`` and ``continue_final_message`` (the server applies the model's
chat template). It is offered only when ``CONCORD_OPENAI_SUPPORTS_SCORE`` says the
server can do it (vLLM).
"""
from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from .base import Backend, BackendError, CapabilityMissing, Context, GenerateRequest, GenerateResult

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAIBackend(Backend):
    name = "openai"
    supports_logprobs = True  # asked for; used when the server returns them

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str = "",
        timeout: float = 120.0,
        max_retries: int = 4,
        concurrency: int = 8,
        supports_score: bool = False,
        backoff_base: float = 0.5,
    ):
        super().__init__(model)
        if not base_url:
            raise BackendError("the openai backend needs CONCORD_OPENAI_BASE_URL (e.g. http://gpu-host:8000/v1)")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.concurrency = max(1, concurrency)
        self.supports_score = supports_score
        self.backoff_base = backoff_base
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
            headers=headers,
            limits=httpx.Limits(max_connections=self.concurrency),
        )

    # --- HTTP with retries ----------------------------------------------------

    def _post(self, path: str, body: dict) -> dict:
        url = f"{self.base_url}{path}"
        last_error = ""
        for attempt in range(self.max_retries + 1):
            try:
                response = self.client.post(url, json=body)
            except httpx.TransportError as error:  # refused, reset, timed out
                last_error = f"{type(error).__name__}: {error}"
                delay = None
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError as error:
                        raise BackendError(f"{url} answered with invalid JSON: {error}") from error
                last_error = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code not in RETRY_STATUS:
                    raise BackendError(f"{url} refused the request: {last_error}")
                delay = _retry_after(response)
            if attempt == self.max_retries:
                break
            time.sleep(delay if delay is not None else self.backoff_base * 2**attempt * (0.5 + random.random()))
        raise BackendError(f"{url} failed after {self.max_retries + 1} attempts: {last_error}")

    # --- generate -------------------------------------------------------------

    def generate(self, requests: list[GenerateRequest]) -> list[GenerateResult]:
        if len(requests) == 1:
            return [self._generate_one(requests[0])]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(self._generate_one, requests))

    def _generate_one(self, request: GenerateRequest) -> GenerateResult:
        body: dict = {
            "model": self.model,
            "messages": request.messages,
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop"] = list(request.stop)
        if request.logprobs:
            body["logprobs"] = True
        if request.messages and request.messages[-1]["role"] == "assistant":
            # vLLM's way to continue a prefilled answer; other servers ignore it.
            body.update(continue_final_message=True, add_generation_prompt=False)
        data = self._post("/chat/completions", body)
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError) as error:
            raise BackendError(f"unexpected chat completion shape: {str(data)[:300]}") from error
        usage = data.get("usage") or {}
        logprobs = None
        content = (choice.get("logprobs") or {}).get("content") if isinstance(choice.get("logprobs"), dict) else None
        if content:
            logprobs = [float(token["logprob"]) for token in content]
        return GenerateResult(
            text=text,
            n_prompt_tokens=usage.get("prompt_tokens"),
            n_output_tokens=usage.get("completion_tokens"),
            finish_reason=choice.get("finish_reason") or "",
            token_logprobs=logprobs,
            prompt_text=self.render_prompt(request.messages),
        )

    # --- score ----------------------------------------------------------------

    def score_many(self, items: list[tuple[Context, str]]) -> list[list[float]]:
        if not self.supports_score:
            raise CapabilityMissing(
                "the openai backend scores only when the server returns prompt log-probs "
                "(set CONCORD_OPENAI_SUPPORTS_SCORE=1 for vLLM)"
            )
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items) or 1)) as pool:
            return list(pool.map(lambda item: self._score_one(*item), items))

    def _score_one(self, context: Context, continuation: str) -> list[float]:
        if not isinstance(context, str):
            return self._score_chat(context, continuation)
        body = {"model": self.model, "prompt": context + continuation, "echo": True, "logprobs": 1,
                "max_tokens": 1, "temperature": 0}
        data = self._post("/completions", body)
        try:
            logprobs = data["choices"][0]["logprobs"]
            offsets = logprobs["text_offset"]
            values = logprobs["token_logprobs"]
        except (KeyError, IndexError, TypeError) as error:
            raise BackendError(f"the server returned no prompt log-probs: {str(data)[:300]}") from error
        end = len(context) + len(continuation)
        picked = [v for offset, v in zip(offsets, values) if len(context) <= offset < end]
        if any(v is None for v in picked):
            raise BackendError("the server returned no log-prob for a continuation token")
        return [float(v) for v in picked]

    def _score_chat(self, context: list[dict], continuation: str) -> list[float]:
        """vLLM's chat extension: the continuation is appended to (or becomes) the final
        assistant message, the server applies the model's chat template and returns
        ``prompt_logprobs``; the continuation's tokens are read from the end."""
        messages = [dict(m) for m in context]
        if messages[-1]["role"] == "assistant":
            messages[-1]["content"] += continuation
        else:
            messages.append({"role": "assistant", "content": continuation})
        body = {"model": self.model, "messages": messages, "max_tokens": 1, "temperature": 0, "prompt_logprobs": 0,
                "continue_final_message": True, "add_generation_prompt": False}
        entries = self._post("/chat/completions", body).get("prompt_logprobs")
        if not entries:
            raise BackendError("the server returned no prompt_logprobs for a chat (vLLM's extension is needed)")
        text, values = "", []
        for entry in reversed(entries):
            if len(text) >= len(continuation) or not entry:
                break
            token = next(iter(entry.values()))  # with prompt_logprobs=0 only the prompt's own token
            text = (token.get("decoded_token") or "") + text
            values.insert(0, float(token["logprob"]))
        if text != continuation:
            raise BackendError(
                f"the continuation {continuation!r} does not start on a token boundary (read {text!r})"
            )
        return values


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return min(30.0, float(value)) if value else None
    except ValueError:
        return None

"""A local causal LM run by transformers, on CPU or GPU.

The model is loaded once per process (see ``generation.backends.get_backend``) and
reused by every task the process runs. Generation is batched with left padding;
requests with the same decoding parameters share batches, sorted by length so a
batch wastes little on padding.
"""
from __future__ import annotations

import hashlib
import os
import threading
from itertools import groupby
from pathlib import Path

from .base import Backend, BackendError, Context, GenerateRequest, GenerateResult

# Rows per batch by device; a GPU takes far more (settings.CONCORD_BATCH_SIZE overrides).
DEFAULT_BATCH_SIZE = {"cpu": 16, "mps": 16, "cuda": 64}


def choose_device(requested: str) -> str:
    import torch

    if requested and requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def choose_dtype(device: str):
    """float32 on CPU (fast and exact there), bfloat16 on GPUs that have it, else float16."""
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def cpu_threads() -> int:
    """Leave one core to the web server and the database: on a small machine torch's
    spinning threads slow to a crawl when another process wants the same cores."""
    return max(1, (os.cpu_count() or 2) - 1)


def _batch_seed(requests: list[GenerateRequest]) -> int | None:
    """One seed per batch: torch has one sampling RNG, so a batch is reproducible
    for the same requests and seeds, not each row on its own."""
    seeds = [r.seed for r in requests]
    if all(s is None for s in seeds):
        return None
    digest = hashlib.sha256(",".join(str(s) for s in seeds).encode()).digest()
    return int.from_bytes(digest[:4], "big")


class TransformersBackend(Backend):
    name = "transformers"
    supports_logprobs = True
    supports_score = True

    def __init__(
        self,
        model: str,
        *,
        path: str | None = None,
        device: str = "auto",
        batch_size: int | None = None,
        threads: int | None = None,
    ):
        super().__init__(model)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = path or model
        if not Path(self.path).is_dir():
            raise BackendError(
                f"model folder {self.path} not found: run `make model` (or set CONCORD_MODEL_PATH); "
                "Concord never downloads weights"
            )
        self.device = choose_device(device)
        self.dtype = choose_dtype(self.device)
        if self.device == "cpu":
            torch.set_num_threads(threads or cpu_threads())
        self.batch_size = batch_size or DEFAULT_BATCH_SIZE.get(self.device.split(":")[0], 16)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.lm = AutoModelForCausalLM.from_pretrained(self.path, dtype=self.dtype).to(self.device)
        self.lm.eval()
        self.torch = torch
        self._lock = threading.Lock()  # one forward pass at a time per process

    @property
    def model_revision(self) -> str:
        marker = Path(self.path) / "concord.json"
        if marker.exists():
            return hashlib.sha256(marker.read_bytes()).hexdigest()[:12]
        return ""

    # --- text ---------------------------------------------------------------

    def render_prompt(self, context: Context) -> str:
        if isinstance(context, str):
            return context
        continues = context[-1]["role"] == "assistant"
        return self.tokenizer.apply_chat_template(
            context, tokenize=False, add_generation_prompt=not continues, continue_final_message=continues
        )

    # --- generate -----------------------------------------------------------

    def generate(self, requests: list[GenerateRequest]) -> list[GenerateResult]:
        prompts = [self.render_prompt(r.messages) for r in requests]
        results: list[GenerateResult | None] = [None] * len(requests)
        order = sorted(range(len(requests)), key=lambda i: (self._group_key(requests[i]), len(prompts[i])))
        for _, group in groupby(order, key=lambda i: self._group_key(requests[i])):
            indices = list(group)
            for start in range(0, len(indices), self.batch_size):
                batch = indices[start : start + self.batch_size]
                outputs = self._generate_batch([requests[i] for i in batch], [prompts[i] for i in batch])
                for i, result in zip(batch, outputs):
                    results[i] = result
        return results  # type: ignore[return-value]

    @staticmethod
    def _group_key(request: GenerateRequest) -> tuple:
        return (request.max_new_tokens, request.temperature, request.top_p, request.stop, request.logprobs)

    def _generate_batch(self, requests: list[GenerateRequest], prompts: list[str]) -> list[GenerateResult]:
        torch = self.torch
        first = requests[0]
        self.tokenizer.padding_side = "left"
        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        sampling = first.temperature > 0
        kwargs = {
            "max_new_tokens": first.max_new_tokens,
            "do_sample": sampling,
            "pad_token_id": self.tokenizer.pad_token_id,
            "return_dict_in_generate": True,
            "output_logits": first.logprobs,
        }
        if sampling:
            kwargs.update(temperature=first.temperature, top_p=first.top_p, top_k=0)
        if first.stop:
            kwargs.update(stop_strings=list(first.stop), tokenizer=self.tokenizer)
        seed = _batch_seed(requests)
        with self._lock, torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            try:
                out = self.lm.generate(**encoded, **kwargs)
            except RuntimeError as error:  # out of memory and the like
                raise BackendError(f"generation failed: {error}") from error
        prompt_width = encoded["input_ids"].shape[1]
        new_tokens = out.sequences[:, prompt_width:]
        eos_ids = self._eos_ids()
        results = []
        for row, request in enumerate(requests):
            ids = new_tokens[row].tolist()
            length = len(ids)
            for position, token in enumerate(ids):
                if token in eos_ids:
                    length = position
                    break
            ended = length < len(ids) or (length < request.max_new_tokens and length == len(ids))
            text = self.tokenizer.decode(ids[:length], skip_special_tokens=True)
            text, stopped = _cut_at_stop(text, request.stop)
            logprobs = None
            if request.logprobs:
                logits = torch.stack([step[row] for step in out.logits[:length]]) if length else None
                if logits is not None:
                    chosen = torch.tensor(ids[:length], device=logits.device)
                    logprobs = torch.log_softmax(logits.float(), dim=-1).gather(1, chosen[:, None])[:, 0].tolist()
                else:
                    logprobs = []
            results.append(
                GenerateResult(
                    text=text,
                    n_prompt_tokens=int(encoded["attention_mask"][row].sum()),
                    n_output_tokens=length,
                    finish_reason="stop" if (ended or stopped) else "length",
                    token_logprobs=logprobs,
                    prompt_text=prompts[row],
                )
            )
        return results

    def _eos_ids(self) -> set[int]:
        ids = self.lm.generation_config.eos_token_id
        ids = set(ids if isinstance(ids, list) else [ids]) if ids is not None else set()
        ids.add(self.tokenizer.eos_token_id)
        return ids

    # --- score --------------------------------------------------------------

    def score_many(self, items: list[tuple[Context, str]]) -> list[list[float]]:
        """Teacher forcing: context and continuation are tokenised separately and
        concatenated, so the continuation's tokens are exactly its own; the logits at
        position j predict token j+1, hence the shift by one at the boundary."""
        torch = self.torch
        rows = []
        for context, continuation in items:
            context_ids = self.tokenizer(self.render_prompt(context), add_special_tokens=False).input_ids
            continuation_ids = self.tokenizer(continuation, add_special_tokens=False).input_ids
            if not context_ids:
                raise BackendError("score needs a non-empty context")
            rows.append((context_ids, continuation_ids))
        if len(rows) > 1 and all(len(k) == 1 for _, k in rows) and all(c == rows[0][0] for c, _ in rows):
            return self._score_next_tokens(rows[0][0], [k[0] for _, k in rows])
        results: list[list[float]] = []
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start : start + self.batch_size]
            width = max(len(c) + len(k) for c, k in batch)
            pad = self.tokenizer.pad_token_id
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (context_ids, continuation_ids) in enumerate(batch):
                sequence = context_ids + continuation_ids
                input_ids[row, : len(sequence)] = torch.tensor(sequence)
                attention[row, : len(sequence)] = 1
            with self._lock, torch.inference_mode():
                logits = self.lm(input_ids=input_ids.to(self.device), attention_mask=attention.to(self.device)).logits
            for row, (context_ids, continuation_ids) in enumerate(batch):
                first = len(context_ids)
                positions = torch.arange(first - 1, first - 1 + len(continuation_ids))
                tokens = torch.tensor(continuation_ids, dtype=torch.long)
                # log_softmax only at the scored positions: the whole (batch × width × vocab)
                # tensor would cost hundreds of MB for long contexts.
                logprobs = torch.log_softmax(logits[row, positions].float(), dim=-1)
                results.append(logprobs[torch.arange(len(tokens)), tokens].tolist() if continuation_ids else [])
        return results

    def _score_next_tokens(self, context_ids: list[int], tokens: list[int]) -> list[list[float]]:
        """Single-token options after one shared context (a judge's ``VERDICT: `` options):
        one forward pass of the context instead of one per option; the same numbers as the
        general path, since the last context position predicts the option token."""
        torch = self.torch
        with self._lock, torch.inference_mode():
            logits = self.lm(input_ids=torch.tensor([context_ids], device=self.device), logits_to_keep=1).logits
        logprobs = torch.log_softmax(logits[0, -1].float(), dim=-1)
        return [[logprobs[token].item()] for token in tokens]


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


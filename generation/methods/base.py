"""What a generation method is: parameters with defaults, a plan of items, and the
work of one item. Methods are registered in ``generation.methods.METHODS`` under
their ``run_job --method`` name.

A method never holds a database transaction across a model call, and writes only
through ``curation.services`` functions that are idempotent on unique keys, so an
item can be run again at any point and creates nothing twice.
"""
from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from curation.models import GenerationJob, JobItem, LLMCall, Project, Prompt

from ..backends import Backend, GenerateRequest, default_model, get_backend
from ..prompts import Template, template_get
from ..recording import recorded_generate, recorded_option_distribution
from ..scoring import SCORE_OPTIONS_1_TO_10, OptionDistribution


class ParamError(ValueError):
    """A parameter value that cannot be used; the message names the parameter."""


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _to_list(raw: Any, item: Callable) -> list:
    values = raw if isinstance(raw, list | tuple) else [v for v in str(raw).split(",")]
    return [item(v.strip() if isinstance(v, str) else v) for v in values if str(v).strip() != ""]


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "int": lambda raw: int(str(raw).strip()) if not isinstance(raw, int) or isinstance(raw, bool) else raw,
    "float": lambda raw: float(raw),
    "bool": _to_bool,
    "str": lambda raw: str(raw).strip(),
    "strs": lambda raw: _to_list(raw, str),
    "floats": lambda raw: _to_list(raw, float),
}


@dataclass(frozen=True)
class Param:
    """One parameter of a method: ``kind`` is int, float, bool, str, strs (comma list)
    or floats (comma list)."""

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None

    def clean(self, raw: Any) -> Any:
        try:
            value = CONVERTERS[self.kind](raw)
        except (TypeError, ValueError) as error:
            raise ParamError(f"parameter {self.name}: {raw!r} is not a valid {self.kind} ({error})") from None
        for single in value if isinstance(value, list) else [value]:
            if self.choices and single not in self.choices:
                raise ParamError(f"parameter {self.name}: {single!r} is not one of {', '.join(map(str, self.choices))}")
            if self.minimum is not None and single < self.minimum:
                raise ParamError(f"parameter {self.name}: {single} is below the minimum {self.minimum}")
            if self.maximum is not None and single > self.maximum:
                raise ParamError(f"parameter {self.name}: {single} is above the maximum {self.maximum}")
        return value

    @property
    def default_text(self) -> str:
        if isinstance(self.default, list):
            return ",".join(map(str, self.default))
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return str(self.default)


# Parameters every generating method shares (methods.md: generation decoding defaults).
DECODING_PARAMS = (
    Param("model", "str", "", "model name or path; empty: the project's default model"),
    Param("temperature", "float", 0.8, "sampling temperature (0 = greedy)", minimum=0, maximum=2),
    Param("top_p", "float", 0.95, "nucleus sampling", minimum=0.01, maximum=1),
    Param("max_new_tokens", "int", 512, "most new tokens per response", minimum=1, maximum=8192),
    Param("seed", "int", 0, "seed for sampling and for every random choice of the job"),
)
PROMPT_SELECTION_PARAMS = (
    Param("limit", "int", 0, "at most this many prompts (0 = all)", minimum=0),
    Param("category", "str", "", "only prompts of this category"),
)


class Method:
    """Subclasses set ``name``, ``label``, ``params`` and implement ``plan`` and ``run_item``."""

    name = ""
    label = ""
    description = ""
    params: tuple[Param, ...] = ()
    needs: tuple[str, ...] = ("generate",)  # backend capabilities: generate, score, logprobs

    def clean_params(self, project: Project, raw: dict) -> dict:
        known = {p.name: p for p in self.params}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise ParamError(
                f"unknown parameter(s) for {self.name}: {', '.join(unknown)}; "
                f"known: {', '.join(known) or 'none'}"
            )
        cleaned = {name: (param.clean(raw[name]) if name in raw else param.default) for name, param in known.items()}
        if "model" in cleaned and not cleaned["model"]:
            cleaned["model"] = project.default_model or default_model()
        self.validate(cleaned)
        return cleaned

    def validate(self, params: dict) -> None:
        """Cross-parameter checks; raise ParamError."""

    def plan(self, job: GenerationJob) -> Iterable[tuple[str, dict]]:
        """The items of a job: (key unique within the job, payload of primary keys)."""
        raise NotImplementedError

    def run_item(self, ctx: ItemContext) -> None:
        raise NotImplementedError


def selected_prompts(project: Project, params: dict):
    prompts = Prompt.objects.filter(project=project).order_by("id")
    if params.get("category"):
        prompts = prompts.filter(category=params["category"])
    if params.get("limit"):
        prompts = prompts[: params["limit"]]
    return prompts


def prompt_items(job: GenerationJob, prefix: str = "prompt"):
    """One item per selected prompt (``limit``, ``category``): key ``<prefix>:<id>``."""
    for prompt_id in selected_prompts(job.project, job.params).values_list("id", flat=True).iterator():
        yield f"{prefix}:{prompt_id}", {"prompt_id": prompt_id}


def prompt_messages(prompt: Prompt) -> list[dict]:
    """The prompt as chat messages, sent as they are (on-policy sampling)."""
    if prompt.messages:
        return [{"role": m["role"], "content": m["content"]} for m in prompt.messages]
    return [{"role": "user", "content": prompt.text}]


def derived_seed(*parts: object) -> int:
    """A 31-bit seed from any key: the same job seed and item give the same draws."""
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:4], "big") >> 1


@dataclass
class ItemContext:
    """What a method's ``run_item`` works with: the job, the item, recorded model calls,
    a seeded random generator and the counts of rows it created."""

    job: GenerationJob
    item: JobItem
    heartbeat: Callable[[], None] = lambda: None
    created: Counter = field(default_factory=Counter)
    details: dict = field(default_factory=dict)
    backend_factory: Callable[[str], Backend] | None = None

    @property
    def project(self) -> Project:
        return self.job.project

    @property
    def params(self) -> dict:
        return self.job.params

    @property
    def payload(self) -> dict:
        return self.item.payload

    def backend(self, model: str | None = None) -> Backend:
        model = model or self.params.get("model") or default_model()
        return self.backend_factory(model) if self.backend_factory else get_backend(model)

    def key(self, step: str, index: int | str = 0) -> str:
        """The call key of one model call of this item: job, item key, step, run index."""
        return f"job{self.job.pk}/{self.item.key}/{step}/{index}"[:200]

    def rng(self, *parts: object) -> random.Random:
        return random.Random(derived_seed(self.params.get("seed", 0), self.item.key, *parts))

    def request(self, messages: list[dict], index: int = 0, **overrides) -> GenerateRequest:
        """A generate request with the job's decoding parameters and a derived seed."""
        values = {
            "max_new_tokens": self.params.get("max_new_tokens", 512),
            "temperature": self.params.get("temperature", 0.8),
            "top_p": self.params.get("top_p", 0.95),
            "seed": derived_seed(self.params.get("seed", 0), self.item.key, index),
        }
        values.update(overrides)
        return GenerateRequest(messages=messages, **values)

    def generate(
        self, step: str, requests: list[GenerateRequest], template: Template | None = None, model: str | None = None,
        indices: list[int | str] | None = None,
    ) -> list[LLMCall]:
        """Recorded generation; request j gets the call key (step, indices[j]) (default j)."""
        indices = list(range(len(requests))) if indices is None else indices
        calls = recorded_generate(
            keys=[self.key(step, i) for i in indices],
            requests=requests,
            backend=self.backend(model),
            template=template,
            project=self.project,
            job=self.job,
        )
        self.heartbeat()
        return calls

    def generate_one(self, step: str, template_name: str, model: str | None = None, index: int = 0, **values) -> LLMCall:
        """Render a template as one user message and generate once."""
        template = template_get(template_name)
        request = self.request([{"role": "user", "content": template.render(**values)}], index=index)
        return self.generate(step, [request], template=template, model=model, indices=[index])[0]

    def option_distribution(
        self, step: str, context, options: tuple[str, ...] = SCORE_OPTIONS_1_TO_10, suffix: str = "",
        template: Template | None = None, model: str | None = None,
    ) -> tuple[OptionDistribution, LLMCall]:
        result = recorded_option_distribution(
            key=self.key(step),
            backend=self.backend(model),
            context=context,
            options=options,
            suffix=suffix,
            template=template,
            project=self.project,
            job=self.job,
        )
        self.heartbeat()
        return result

    def count(self, name: str, created: bool = True) -> None:
        if created:
            self.created[name] += 1

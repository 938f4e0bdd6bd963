"""Model backends, obtained through one registry that reads the settings.

``get_backend(model=None)`` returns the backend for a model name (default: the
site's ``CONCORD_MODEL_NAME``), created once per process and cached: a worker
loads the transformers model on its first task and reuses it for every later one.
``backend_capabilities()`` answers what a backend can do without creating it, so
a job can be refused in the web process before any row is written.

Settings: ``CONCORD_BACKEND`` (transformers | openai | fake), ``CONCORD_MODEL_NAME``,
``CONCORD_MODEL_PATH`` (the folder of the default model), ``CONCORD_DEVICE`` (auto,
cpu, cuda, cuda:1, mps), ``CONCORD_BATCH_SIZE``, ``CONCORD_OPENAI_*``.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from django.conf import settings

from .base import Backend, BackendError, CapabilityMissing, GenerateRequest, GenerateResult

__all__ = [
    "Backend",
    "BackendError",
    "CapabilityMissing",
    "GenerateRequest",
    "GenerateResult",
    "backend_capabilities",
    "get_backend",
    "clear_backends",
]

BACKEND_NAMES = ("transformers", "openai", "fake")

_cache: dict[tuple, Backend] = {}
_cache_lock = threading.Lock()


def default_model() -> str:
    if settings.CONCORD_BACKEND == "openai" and settings.CONCORD_OPENAI_MODEL:
        return settings.CONCORD_OPENAI_MODEL
    return settings.CONCORD_MODEL_NAME


def model_path(model: str) -> str:
    """A model name → its local folder: the default model lives at CONCORD_MODEL_PATH,
    any other name is taken as a path (an absolute one, or one under var/models/)."""
    if model in ("", settings.CONCORD_MODEL_NAME):
        return settings.CONCORD_MODEL_PATH
    if Path(model).is_absolute():
        return model
    return str(Path(settings.VAR_DIR) / "models" / model)


def backend_capabilities(backend: str | None = None) -> dict[str, bool]:
    """What a backend can do, from its class and settings alone (no model is loaded)."""
    name = backend or settings.CONCORD_BACKEND
    if name == "transformers":
        from .transformers_backend import TransformersBackend as cls

        return {"generate": True, "logprobs": cls.supports_logprobs, "score": cls.supports_score}
    if name == "openai":
        return {"generate": True, "logprobs": True, "score": settings.CONCORD_OPENAI_SUPPORTS_SCORE}
    if name == "fake":
        return {"generate": True, "logprobs": True, "score": True}
    raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")


def get_backend(model: str | None = None, backend: str | None = None) -> Backend:
    """The process-wide backend for ``model`` (created on first use, then reused)."""
    name = backend or settings.CONCORD_BACKEND
    model = model or default_model()
    key = (name, model, settings.CONCORD_DEVICE)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _create(name, model)
        return _cache[key]


def clear_backends() -> None:
    with _cache_lock:
        _cache.clear()


def _create(name: str, model: str) -> Backend:
    if name == "transformers":
        from .transformers_backend import TransformersBackend

        return TransformersBackend(
            model, path=model_path(model), device=settings.CONCORD_DEVICE,
            batch_size=settings.CONCORD_BATCH_SIZE,
            threads=settings.CONCORD_TORCH_THREADS,
        )
    if name == "openai":
        from .openai_backend import OpenAIBackend

        return OpenAIBackend(
            model,
            base_url=settings.CONCORD_OPENAI_BASE_URL,
            api_key=settings.CONCORD_OPENAI_API_KEY,
            timeout=settings.CONCORD_OPENAI_TIMEOUT,
            max_retries=settings.CONCORD_OPENAI_MAX_RETRIES,
            concurrency=settings.CONCORD_OPENAI_CONCURRENCY,
            supports_score=settings.CONCORD_OPENAI_SUPPORTS_SCORE,
        )
    if name == "fake":
        from .fake import FakeBackend

        return FakeBackend(model, delay=float(os.environ.get("CONCORD_FAKE_DELAY", "0") or 0))
    raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")

"""Where the generation app plugs in starting and cancelling jobs.

Listing jobs and reading their status only needs curation's models, so the API does
that itself. Starting and cancelling a job belong to the generation app, and curation
never imports generation: the generation app registers its service here instead,
once, from ``GenerationConfig.ready()``::

    from curation.job_service import register_job_service
    register_job_service(start=services.job_start, cancel=services.job_cancel)

``start(*, project, method, params, user) -> GenerationJob`` and
``cancel(*, job, user) -> GenerationJob`` raise :class:`JobRejected` (message, field)
for bad input; the API turns that into a 400 naming the field.
"""
from collections.abc import Callable
from dataclasses import dataclass

from .models import GenerationJob


class JobRejected(Exception):
    """``unavailable``: a service the job needs (the broker) is down — the API answers
    503, not 400: the same request can succeed later."""

    def __init__(self, message: str, field: str | None = None, *, unavailable: bool = False):
        self.field = field
        self.unavailable = unavailable
        super().__init__(message)


@dataclass(frozen=True)
class JobService:
    start: Callable[..., GenerationJob]
    cancel: Callable[..., GenerationJob]


_registered: list[JobService] = []


def register_job_service(*, start: Callable[..., GenerationJob], cancel: Callable[..., GenerationJob]) -> None:
    _registered[:] = [JobService(start=start, cancel=cancel)]


def job_service() -> JobService | None:
    return _registered[0] if _registered else None

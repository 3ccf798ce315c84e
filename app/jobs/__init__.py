"""Background jobs: a registry of job functions and the durable outbox that runs them.

A job is a plain function registered with ``@job(queue=…)``; whoever needs it done calls
``outbox.record(the_function, **ids)`` inside its transaction. The registry maps the job's
name (stored in the outbox row) back to the function, its RQ queue and the handler to call
when the job has failed for good, so the outbox itself knows nothing of what its jobs do.
Job functions live with the domain they serve (``app.cases.checks``, ``app.mail.delivery``);
the worker imports those modules so that every job is registered before it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable[..., Any]
    queue: str
    # called as on_final_failure(error, **payload) once RQ gave up on the job
    on_final_failure: Callable[..., None] | None = None
    # tell the failure listeners (the admins' alert) when it failed for good; False for jobs
    # that report their failures themselves (an email's delivery reports the email)
    alerts: bool = True

    @property
    def path(self) -> str:
        """The function's import path: what RQ stores and the worker imports."""
        return f"{self.func.__module__}.{self.func.__qualname__}"


REGISTRY: dict[str, JobSpec] = {}

# Called as listener(job_name, error, payload) when a job with ``alerts`` failed for good.
# The domain registers its listener (app.cases.notices alerts the admins); this package
# knows nothing of who is told.
FAILURE_LISTENERS: list[Callable[[str, str, dict[str, Any]], None]] = []


def add_failure_listener(listener: Callable[[str, str, dict[str, Any]], None]):
    """Register ``listener`` for every job that failed for good (once per listener)."""
    if listener not in FAILURE_LISTENERS:
        FAILURE_LISTENERS.append(listener)
    return listener


def job(
    *,
    queue: str,
    on_final_failure: Callable[..., None] | None = None,
    alerts: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as a background job on ``queue``.

    The function is returned unchanged, so it can be called directly and RQ imports it by its
    own module path.
    """

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        name = func.__name__
        existing = REGISTRY.get(name)
        if existing is not None and existing.path != f"{func.__module__}.{func.__qualname__}":
            raise ValueError(f"job name {name!r} is taken by {existing.path}")
        REGISTRY[name] = JobSpec(name, func, queue, on_final_failure, alerts)
        return func

    return register


def spec(job_or_name: Callable[..., Any] | str) -> JobSpec:
    """The registered job of a function or a stored name; KeyError if unknown."""
    name = job_or_name if isinstance(job_or_name, str) else job_or_name.__name__
    found = REGISTRY.get(name)
    if found is None or (not isinstance(job_or_name, str) and found.func is not job_or_name):
        raise KeyError(f"unknown job {name!r}")
    return found

"""Fallback: ask the sources in order, each with its own retries, until one answers."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Generator, Iterable, Sequence
from typing import Any, NamedTuple

from ._checks import check_timeout
from ._shown import Shown, shown
from .outcome import Attempt
from .retry import Retry
from .sources import Source, as_source, fetch_within
from .timing import clock, format_seconds

__all__ = [
    "AllSourcesFailed",
    "FallbackChain",
    "Plan",
    "Served",
    "request_plan",
    "run_plan",
    "serves",
    "step_call",
    "tighter",
]

log = logging.getLogger("ella_lab")

# A plan yields steps -- ("call", source, request, attempt, timeout), ("serve", ...), ("sleep", seconds) --
# receives each step's result (or its exception, thrown in), and returns its answer.
Plan = Generator[tuple, Any, Any]


class Served(NamedTuple):
    """A successful answer: the value, the source that gave it, and every attempt made on the way."""

    value: Any
    source: str
    attempts: tuple[Attempt, ...]


class AllSourcesFailed(ExceptionGroup):
    """Every source failed for one request; ``exceptions`` holds each attempt's error, in order."""

    def __new__(cls, message: str, exceptions: Sequence[Exception], attempts: Sequence[Attempt] = ()):
        self = super().__new__(cls, message, exceptions)
        self.attempts = tuple(attempts)
        return self

    def __init__(self, message: str, exceptions: Sequence[Exception], attempts: Sequence[Attempt] = ()):
        # args (and so repr) hold the message and the errors, not the attempts' clock readings, which
        # change on every run; the attempts travel as an attribute (pickling keeps it).
        super().__init__(message, exceptions)

    def derive(self, excs: Sequence[Exception]) -> AllSourcesFailed:
        return AllSourcesFailed(self.message, excs, self.attempts)


class FallbackChain(Source):
    """Try ``sources`` in order; retry each under its policy, with a per-attempt ``timeout`` (seconds).

    ``retry`` is one ``Retry`` for every source, or a sequence with one ``Retry`` (or ``None``) per
    source. A chain is itself a source, so it can be routed, or nested in another chain.
    """

    keeps_timeout = True  # every attempt's call is bounded (``fetch_within``)
    _composite = True

    def __init__(
        self,
        sources: Iterable[Any],
        *,
        retry: Retry | Sequence[Retry | None] | None = None,
        timeout: float | None = None,
        name: str | None = None,
    ):
        if isinstance(sources, (str, bytes)) or not isinstance(sources, Iterable):
            raise TypeError(f"sources must be a list of sources, got {shown(sources)}")
        self.sources: tuple[Source, ...] = tuple(as_source(s) for s in sources)
        if not self.sources:
            raise ValueError("sources must name at least one source, got an empty list")
        if retry is None or isinstance(retry, Retry):
            retries = [retry] * len(self.sources)
        elif isinstance(retry, Sequence) and len(retry) == len(self.sources):
            retries = list(retry)
        else:
            raise TypeError(f"retry must be a Retry, None, or one per source ({len(self.sources)}), got {retry!r}")
        for policy in retries:
            if policy is not None and not isinstance(policy, Retry):
                raise TypeError(f"retry must be a Retry or None, got {policy!r}")
        self.retries: tuple[Retry | None, ...] = tuple(retries)
        self.timeout = check_timeout("timeout", timeout)
        self.name = name or " > ".join(s.name for s in self.sources)

    def serve(self, request: Any, *, timeout: float | None = None, attempt: int = 0) -> Served:
        """Answer ``request`` or raise ``AllSourcesFailed`` carrying every attempt."""
        return run_plan(self.plan(request, timeout=timeout))

    def plan(self, request: Any, *, timeout: float | None = None, attempt: int = 0) -> Plan:
        """The chain's decisions as a generator of steps (call, sleep), for a driver to carry out.

        Written once, it is run by ``run_plan`` with blocking calls in a thread, and by the asyncio
        backend with ``await``: the same order, retries, budget and errors in both. ``timeout`` is an
        outer limit (an enclosing chain's or router's): the tighter of it and the chain's own applies.
        """
        limit = tighter(self.timeout, timeout)
        attempts: list[Attempt] = []
        errors: list[Exception] = []
        for source, policy in zip(self.sources, self.retries, strict=True):
            tries, budget = (policy.attempts, policy.budget) if policy is not None else (1, None)
            if budget is not None:
                budget.record_request()
            for number in range(tries):
                if number:
                    if budget is not None and not budget.try_retry():
                        log.debug("retry of %s on %r refused by the retry budget", source.name, Shown(request))
                        break
                    pause = policy.delay(number, source.name, request)
                    log.debug("retrying %s on %r in %s", source.name, Shown(request), format_seconds(pause))
                    yield ("sleep", pause)
                try:
                    value, served_by = yield from _attempt(source, request, number, limit, attempts)
                except Exception as exc:
                    errors.append(exc)
                    log.debug(
                        "%s failed on %r (attempt %d): %r",
                        source.name,
                        Shown(request),
                        number,
                        Shown(exc, 200),
                        exc_info=exc,
                    )
                    if policy is None or not policy.should_retry(exc):
                        break
                    continue
                if len(attempts) > 1:
                    log.debug("%r served by %s after %d attempts", Shown(request), served_by, len(attempts))
                return Served(value, served_by, tuple(attempts))
        tries = f"{len(attempts)} attempt{'' if len(attempts) == 1 else 's'}"
        message = f"all {len(self.sources)} source(s) failed for {shown(request)} after {tries}"
        raise AllSourcesFailed(message, errors, attempts)

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> Any:
        return self.serve(request, timeout=timeout).value

    def children(self) -> tuple[Any, ...]:
        return (*self.sources, *self.retries)

    def __repr__(self) -> str:
        return f"FallbackChain({list(self.sources)!r}, retry={self.retries[0]!r}, timeout={self.timeout!r})"


def _attempt(source: Source, request: Any, number: int, limit: float | None, attempts: list[Attempt]) -> Plan:
    """Steps for one attempt at ``source``; what happened is appended to ``attempts``.

    A nested chain contributes its own steps; another of the library's composite sources (a hedge,
    see ``serves``) is one ``serve`` step that reports its own attempts; any other source is one call.
    """
    if isinstance(source, FallbackChain):
        try:
            value, served_by, inner = yield from source.plan(request, timeout=limit, attempt=number)
        except AllSourcesFailed as exc:
            attempts.extend(exc.attempts)
            raise
        attempts.extend(inner)
        return value, served_by
    if serves(source):
        try:
            served = yield ("serve", source, request, number, limit)
        except AllSourcesFailed as exc:
            attempts.extend(exc.attempts)
            raise
        if not isinstance(served, Served):
            raise TypeError(f"{source.name}.serve() returned {shown(served)}, not a Served(value, source, attempts)")
        attempts.extend(served.attempts)
        return served.value, served.source
    started = clock()
    try:
        value = yield ("call", source, request, number, limit)
    except Exception as exc:
        attempts.append(Attempt(source.name, number, exc, started, clock()))
        raise
    attempts.append(Attempt(source.name, number, None, started, clock()))
    return value, source.name


def request_plan(source: Source, request: Any) -> Plan:
    """The steps that serve one request with ``source``, whatever it is; the plan returns a ``Served``.

    A chain's own plan, a hedge's ``serve``, or a single call: what every engine runs for a request.
    """
    attempts: list[Attempt] = []
    value, served_by = yield from _attempt(source, request, 0, None, attempts)
    return Served(value, served_by, tuple(attempts))


def serves(source: Any) -> bool:
    """True for the library's composite sources (a chain, a hedge), which report their own attempts.

    Only these speak the ``serve`` protocol (they say so: ``Source._composite``): a user's source may well
    have a ``serve`` method of its own (to start a server, say), which is none of the router's business;
    it is called through ``fetch``.
    """
    return isinstance(source, Source) and type(source)._composite is True


def tighter(limit: float | None, outer: float | None) -> float | None:
    """The tighter of two time limits in seconds (``None``: no limit): inner and outer timeouts compose."""
    if limit is None:
        return outer
    return limit if outer is None else min(limit, outer)


def step_call(step: tuple) -> tuple[Any, Any, dict[str, Any]]:
    """A ``call`` or ``serve`` step as (what to call, the request, its keyword arguments).

    A ``call`` goes through ``fetch_within``: its timeout holds whatever the source does with it.
    """
    kind, source, request, number, limit = step
    method = functools.partial(fetch_within, source) if kind == "call" else source.serve
    return method, request, {"attempt": number, "timeout": limit}


def run_plan(plan: Plan) -> Any:
    """Carry out a plan's steps in this thread, blocking: call the source (``fetch_within``), or sleep."""
    try:
        step = next(plan)
        while True:
            try:
                kind = step[0]
                if kind == "call":
                    result = fetch_within(step[1], step[2], attempt=step[3], timeout=step[4])
                elif kind == "sleep":
                    time.sleep(step[1])
                    result = None
                else:
                    method, request, kwargs = step_call(step)
                    result = method(request, **kwargs)
            except Exception as exc:  # the plan decides what a failure means
                step = plan.throw(exc)
            else:
                step = plan.send(result)
    except StopIteration as done:
        return done.value

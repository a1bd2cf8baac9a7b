"""ella_lab: a threaded data router for teaching — sources, router, fallback, retry and reports.

Built from the guide "E.L.L.A. Data Handler — Threaded Data Router, V3": a request queue served by
worker threads, fallback to backup sources, retries with backoff, and measured, seeded experiments.
"""

from .fallback import AllSourcesFailed, FallbackChain, Served
from .outcome import Attempt, Outcome, Rejected, Report
from .resilience import CircuitBreaker, CircuitOpenError, Hedge, HedgeAbandoned, Outage, RetryBudget
from .retry import Retry
from .router import Router
from .service import FlakyService, HttpSource
from .sources import CpuSource, FunctionSource, ScriptedSource, SimulatedSource, Source, SourceError, as_source
from .timing import format_seconds

__version__ = "0.1.0"

__all__ = [
    "AllSourcesFailed",
    "Attempt",
    "CircuitBreaker",
    "CircuitOpenError",
    "CpuSource",
    "FallbackChain",
    "FlakyService",
    "FunctionSource",
    "Hedge",
    "HedgeAbandoned",
    "HttpSource",
    "Outage",
    "Outcome",
    "Rejected",
    "Report",
    "Retry",
    "RetryBudget",
    "Router",
    "ScriptedSource",
    "Served",
    "SimulatedSource",
    "Source",
    "SourceError",
    "as_source",
    "format_seconds",
]

"""The same routing on other engines: ``Router(..., executor="asyncio" | "processes" | "dask")``.

Each backend serves the same requests with the same sources and returns the same ``Report``:
one ``Outcome`` per request, in order, failures recorded, never lost. Seeded sources decide their
answers from (seed, source, request, attempt) alone, so every backend gives the same outcomes.

Every engine runs the same per-request code, ``Execution``: the request's plan (``request_plan``)
driven blocking in threads, processes and Dask tasks, and with ``await`` on asyncio.

- ``asyncio``: ``workers`` coroutines on one event loop (in a thread of its own, so it also runs
  inside Jupyter's loop). Sources with ``afetch`` (``SimulatedSource``) and chains of them wait
  with ``asyncio.sleep``; any other source runs on a pool of ``workers`` threads.
- ``processes``: ``workers`` processes (from a fork server, or spawned: never a bare fork of a
  process that runs threads), each sent a small batch of requests at a time and answering request by
  request. A process that dies fails the one request it was serving; the rest of its batch, never
  started, go to a fresh process. For CPU-bound sources: it sidesteps the GIL. The source must be picklable;
  what ``__main__`` defines (a notebook cell, ``python -c``) travels by value (cloudpickle, as Dask does).
- ``dask``: chunks of requests as tasks on a ``dask.distributed`` cluster, served by ``workers``
  threads in all. With no ``client`` a ``LocalCluster`` is started for the run and closed after it;
  a given ``Client`` (a local or a remote cluster) is used as it is. A chunk runs at most once
  (marks in its task's metadata on the scheduler, see ``_TaskRuns``); a chunk whose worker died
  midway is served again one request per task, to find and fail the request that kills its worker.

Times are ``time.perf_counter`` readings; on one machine they are comparable across processes
(a system-wide monotonic clock). On a remote cluster, compare a request's times with each other only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import pickle
import signal
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from queue import Empty, SimpleQueue
from typing import Any

from . import _threads
from ._shown import Shown, shown
from .fallback import AllSourcesFailed, Plan, Served, request_plan, run_plan, serves, step_call
from .outcome import Attempt, Outcome, Report, all_failed, failed_call, release_attempts
from .sources import FunctionSource, Source, collect_counters, counters_since, fetch_within, timed_out
from .timing import clock

__all__ = ["EXECUTORS", "Execution", "WorkerDied", "arun_plan", "run_backend"]

log = logging.getLogger("ella_lab")

EXECUTORS = ("threads", "asyncio", "processes", "dask")
_new = tuple.__new__  # builds an Outcome/Attempt without NamedTuple's keyword machinery (hot path)


class WorkerDied(RuntimeError):
    """The process serving a request died (``os._exit``, a segfault, killed): that request's error."""


# -- the execution core: one request in, one Outcome out, on every engine ----------------------------


class Execution:
    """The per-request code of every engine: serve one request with ``source``, record one ``Outcome``.

    Failures of any kind (``BaseException`` included) become the request's failed outcome. With
    ``last_error`` (a chain the router made for ``retry=``/``timeout=``) a request every attempt failed
    records the last attempt's error rather than the ``AllSourcesFailed``. Picklable: processes and
    Dask tasks receive it whole, so they cannot drift from threads and asyncio.
    """

    def __init__(self, source: Source, *, last_error: bool = False):
        self.source = source
        self.last_error = last_error
        self.single = not serves(source)
        self.execute = self.blocking()

    def __getstate__(self) -> dict[str, Any]:
        return {"source": self.source, "last_error": self.last_error}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["source"], last_error=state["last_error"])  # type: ignore[misc]

    def __call__(self, request: Any, queued_at: float, worker: str) -> Outcome:
        return self.execute(request, queued_at, worker)

    def blocking(self) -> Callable[[Any, float, str], Outcome]:
        """``execute(request, queued_at, worker)``: the plan run blocking; a single source's one call inline."""
        # The closures refer to the source and the flag, never to self: no reference cycle, no garbage.
        source, name, last_error = self.source, self.source.name, self.last_error
        if not self.single:

            def execute(request: Any, queued_at: float, worker: str) -> Outcome:
                started = clock()
                try:
                    answer = run_plan(request_plan(source, request))
                except BaseException as exc:  # a failing source never kills its worker
                    return _failed(name, last_error, request, exc, worker, queued_at, started)
                return _served(request, answer, worker, queued_at, started)

            return execute

        # The hot path: the plan of a single source is one call; made here directly (a plain function
        # is called without its wrapper), with the record the plan would give.
        fetch = source.function if isinstance(source, FunctionSource) else source.fetch

        def execute_one(request: Any, queued_at: float, worker: str) -> Outcome:
            started = clock()
            try:
                value = fetch(request)
            except BaseException as exc:
                return _failed(name, last_error, request, exc, worker, queued_at, started)
            finished = clock()
            attempt = _new(Attempt, (name, 0, None, started, finished))
            return _new(Outcome, (request, True, value, None, name, (attempt,), worker, queued_at, started, finished))

        return execute_one

    async def aexecute(self, request: Any, queued_at: float, worker: str, pool: ThreadPoolExecutor) -> Outcome:
        """The same on an event loop: the plan's waits are awaited, blocking calls go to ``pool``."""
        started = clock()
        try:
            if self.single:  # the plan of a single source is one call: made directly, as on threads
                value = await _acall(self.source, request, 0, None, pool)
                finished = clock()
                attempt = _new(Attempt, (self.source.name, 0, None, started, finished))
                return _new(
                    Outcome,
                    (request, True, value, None, self.source.name, (attempt,), worker, queued_at, started, finished),
                )
            answer = await arun_plan(request_plan(self.source, request), pool)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # the run is being stopped, not a source's doing
                raise
            return _failed(self.source.name, self.last_error, request, exc, worker, queued_at, started)
        except BaseException as exc:
            return _failed(self.source.name, self.last_error, request, exc, worker, queued_at, started)
        return _served(request, answer, worker, queued_at, started)

    def __repr__(self) -> str:
        return f"Execution({self.source!r}, last_error={self.last_error})"


def _failed(
    name: str, last_error: bool, request: Any, exc: BaseException, worker: str, queued_at: float, started: float
) -> Outcome:
    """The record of a failed request: every attempt of a plan that gave up, or the one error that stopped it."""
    if isinstance(exc, AllSourcesFailed):
        return all_failed(request, exc, last_error, worker, queued_at, started)
    log.debug("%s failed on %r: %r", name, Shown(request), Shown(exc, 200), exc_info=exc)
    return failed_call(name, request, exc, worker, queued_at, started)


def _served(request: Any, answer: Served, worker: str, queued_at: float, started: float) -> Outcome:
    release_attempts(answer.attempts)
    return Outcome(
        request, True, answer.value, None, answer.source, answer.attempts, worker, queued_at, started, clock()
    )


def run_backend(router: Any, requests: Sequence[Any]) -> Report:
    """Serve ``requests`` with ``router.source`` on ``router.executor``; the threads backend is ``Router.run``."""
    runner = {"asyncio": _run_asyncio, "processes": _run_processes, "dask": _run_dask}[router.executor]
    counted = collect_counters(router.source)
    started = clock()
    outcomes = runner(router, requests) if requests else []
    finished = clock()
    counts = counters_since(router.source, counted)
    return Report(outcomes, workers=router.workers, started_at=started, finished_at=finished, counters=counts)


def _join_bounded(thread: threading.Thread, timeout: float) -> None:
    if not _threads.join(thread, timeout):
        log.warning("%s still busy after %.1f s (a source that does not return)", thread.name, timeout)


# -- asyncio ---------------------------------------------------------------------------------------


async def _acall(source: Source, request: Any, attempt: int, timeout: float | None, pool: Any) -> Any:
    """Call a source from the event loop: natively if it can wait with ``await``, else on ``pool``.

    The timeout holds whatever the source does with it: an ``afetch`` that may ignore it is cancelled at
    the deadline; one that blocks the loop past it (``time.sleep`` in a coroutine: no ``await`` to cancel)
    answers too late, which counts as a timeout, as on the helper threads; a blocking ``fetch`` goes
    through ``fetch_within``.
    """
    afetch = getattr(source, "afetch", None)
    if afetch is None:
        return await _in_pool(pool, functools.partial(fetch_within, source, request, attempt=attempt, timeout=timeout))
    if timeout is None or getattr(source, "keeps_timeout", False):
        return await afetch(request, attempt=attempt, timeout=timeout)
    started = clock()
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            value = await afetch(request, attempt=attempt, timeout=timeout)
    except TimeoutError:
        if deadline.expired():
            raise timed_out(source.name, request, timeout) from None
        raise
    if clock() - started > timeout:
        raise timed_out(source.name, request, timeout)
    return value


async def _in_pool(pool: Any, call: Callable[[], Any]) -> Any:
    """``call()`` on ``pool``; its exception, whatever it is, raised here.

    A ``BaseException`` is carried back as data: raised from inside the awaited future itself, a
    ``GeneratorExit`` would be taken for the closing of every coroutine that awaits it, and escape them all.
    """
    ok, result = await asyncio.get_running_loop().run_in_executor(pool, _captured, call)
    if ok:
        return result
    raise result


def _captured(call: Callable[[], Any]) -> tuple[bool, Any]:
    try:
        return True, call()
    except BaseException as exc:
        return False, exc


async def arun_plan(plan: Plan, pool: Any = None) -> Any:
    """Carry out a plan's steps on the event loop: ``await`` the calls and the sleeps.

    Blocking calls (a source without ``afetch``, a hedge's ``serve``) run on ``pool`` (``None``: the loop's own).
    """
    try:
        step = next(plan)
        while True:
            try:
                if step[0] == "sleep":
                    await asyncio.sleep(step[1])
                    result = None
                elif step[0] == "call":
                    result = await _acall(*step[1:], pool)
                else:  # a composite source's serve() blocks: run it on the pool
                    method, request, kwargs = step_call(step)
                    result = await _in_pool(pool, functools.partial(method, request, **kwargs))
            except Exception as exc:
                step = plan.throw(exc)
            else:
                step = plan.send(result)
    except StopIteration as done:
        return done.value


def _run_asyncio(router: Any, requests: Sequence[Any]) -> list[Outcome]:
    """``workers`` coroutines on a loop in a thread of its own; Ctrl-C cancels them and stops the loop."""
    execution: Execution = router._execution
    n = len(requests)
    results: list[Outcome | None] = [None] * n
    queued_at = clock()
    todo = iter(enumerate(requests))  # shared by the coroutines; safe, as they run one at a time
    pool = ThreadPoolExecutor(router.workers, thread_name_prefix="ella-asyncio")
    running: dict[str, Any] = {}  # the loop and its main task, for a stop from the caller's thread
    failure: list[BaseException] = []

    async def worker(name: str) -> None:
        for i, request in todo:
            results[i] = await execution.aexecute(request, queued_at, name, pool)

    async def main() -> None:
        running["loop"], running["task"] = asyncio.get_running_loop(), asyncio.current_task()
        if running.get("stop"):
            return
        await asyncio.gather(*(worker(f"task-{j}") for j in range(min(router.workers, n))))

    def run_loop() -> None:  # a loop of its own, in a thread of its own: works under Jupyter's running loop
        try:
            asyncio.run(main())
        except BaseException as exc:
            failure.append(exc)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # blocking calls in progress end; none start

    thread = threading.Thread(target=run_loop, name="ella-asyncio", daemon=True)
    try:  # start() inside: it waits for the new thread, and a Ctrl-C landing there must stop the loop too
        thread.start()
        thread.join()
    except BaseException:  # Ctrl-C: cancel every coroutine, wait (bounded) for the loop to end
        running["stop"] = True
        if "loop" in running:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                running["loop"].call_soon_threadsafe(running["task"].cancel)
        if thread.ident is not None:  # it started
            _join_bounded(thread, 10.0)
        raise
    if failure:
        raise failure[0]
    return results  # type: ignore[return-value]


# -- processes: batches out, one answer per request back ------------------------------------------


def _check_picklable(source: Source, executor: str) -> bytes:
    """The source pickled (``_dumps``), or a ``TypeError`` naming it, the part that cannot travel, and why."""
    try:
        return _dumps(source)
    except BaseException as exc:  # a __reduce__ may raise anything: it is the source's fault, said so
        path = _unpicklable_part(source)
        part = "" if not path else f": its {' > '.join(path)} cannot be"
        raise TypeError(
            f"executor={executor!r} sends the source to other processes, so it must be picklable; "
            f"{shown(source, 200)} is not{part} ({shown(exc, 400)})"
        ) from None


def _unpicklable_part(value: Any, depth: int = 4) -> list[str] | None:
    """Where in ``value`` the part that cannot be pickled sits: attributes, closure variables and globals, in turn.

    ``['function', "variable 'connection' (socket)"]`` says more to a learner than the pickler's "cannot pickle
    'socket' object" about a function that closed over a socket. ``None`` if no single part is to blame.
    """
    try:
        for label, part in _parts(value):
            try:
                _dumps(part)
            except BaseException:
                deeper = _unpicklable_part(part, depth - 1) if depth > 1 else None
                return [f"{label} ({type(part).__name__})", *(deeper or [])]
    except BaseException:  # an object whose attributes raise: no part named, the pickler's error stands
        return None
    return None


def _parts(value: Any) -> Any:
    """(label, part) for what pickling ``value`` takes along: a function's closure and globals, else its attributes."""
    code = getattr(value, "__code__", None)
    if code is not None:
        for name, cell in zip(code.co_freevars, getattr(value, "__closure__", None) or (), strict=False):
            with contextlib.suppress(ValueError):  # an empty cell
                yield f"variable {name!r}", cell.cell_contents
        namespace = getattr(value, "__globals__", {})
        for name in code.co_names:
            if name in namespace:
                yield f"global {name!r}", namespace[name]
        return
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        for name, part in list(attributes.items()):
            yield f"attribute {name!r}", part


def _dumps(value: Any) -> bytes:
    """Pickle ``value`` for another process: what pickle cannot refer to by name, by value (cloudpickle).

    A function or class defined in a notebook cell or ``python -c`` lives in ``__main__``, which a worker
    process does not have, and a closure (a function a factory returns) has no name to be found by;
    cloudpickle (installed with Dask) sends their code. Plain pickle first: it is faster, and its bytes
    name ``__main__`` exactly when something from there is referred to. When both fail, cloudpickle's
    error names the real cause ("cannot pickle 'socket' object", not "Can't pickle local object").
    """
    try:
        data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # "attribute lookup f on __main__ failed", "Can't pickle local object 'make.<locals>.f'"
        cloudpickle = _cloudpickle()
        if cloudpickle is None or not any(where in str(exc) for where in ("__main__", "<locals>")):
            raise
        return cloudpickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    if b"__main__" in data:
        cloudpickle = _cloudpickle()
        if cloudpickle is not None:
            return cloudpickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    return data


@functools.cache
def _cloudpickle() -> Any:
    try:
        import cloudpickle
    except ImportError:  # without it, what __main__ defines cannot travel: the worker says so
        return None
    return cloudpickle


def _process_context() -> Any:
    """Fork server where the OS has one (safe with threads, and fast after its first start), else spawn."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["ella_lab"])
        return context
    return multiprocessing.get_context("spawn")


# What crosses a process boundary is bytes, one request or one outcome at a time: what cannot be
# pickled, or unpickled, fails its own request with a message that names it; its neighbours go on.


def _pack_request(request: Any) -> bytes:
    try:
        return _dumps(request)
    except BaseException as exc:  # its __reduce__ may raise anything, SystemExit too: this request's failure
        raise pickle.PicklingError(
            f"request {shown(request)} could not be pickled to send it to a worker process: {shown(exc, 200)}"
        ) from None


def _serve_packed(execute: Callable[[Any, float, str], Outcome], item: bytes, queued_at: float, where: str) -> bytes:
    """In a worker: unpickle one request, serve it, pickle its outcome (without the request: the sender has it)."""
    try:
        request = pickle.loads(item)
    except BaseException as exc:
        error = pickle.UnpicklingError(f"the request could not be unpickled in the worker process: {shown(exc, 200)}")
        outcome = failed_call("router", None, error, where, queued_at, clock())
    else:
        outcome = execute(request, queued_at, where)
    try:
        return _dumps(outcome._replace(request=None))
    except BaseException as exc:  # a value's or error's __reduce__ may raise anything: this request's failure
        part = "value" if outcome.ok else f"error {type(outcome.error).__name__}"
        error = pickle.PicklingError(
            f"the outcome of request {shown(outcome.request)} could not be pickled (its {part}: {shown(exc, 200)})"
        )
        now = clock()
        attempt = Attempt(outcome.source or "router", 0, error, outcome.started_at, now)
        failed = outcome._replace(
            request=None, ok=False, value=None, error=error, source=None, attempts=(attempt,), finished_at=now
        )
        return pickle.dumps(failed, pickle.HIGHEST_PROTOCOL)


def _unpack_outcome(data: bytes, request: Any, name: str, queued_at: float) -> Outcome:
    """Back home: the outcome of ``request``, or a failure saying it could not be unpickled."""
    try:
        outcome = pickle.loads(data)
    except BaseException as exc:  # a __setstate__ may raise anything: this request's failure
        error = pickle.UnpicklingError(
            f"the outcome of request {shown(request)} could not be unpickled: {shown(exc, 200)}"
        )
        return failed_call(name, request, error, "router", queued_at, clock())
    return outcome._replace(request=request)


def _process_worker(conn: Any, payload: bytes) -> None:
    """A worker process: load the execution, then answer each batch request by request, in order."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it terminates us
    try:
        execute = pickle.loads(payload).execute
    except BaseException as exc:  # the parent reads this as the cause, and names the source
        conn.send_bytes(b"!" + shown(exc, 1000).encode(errors="replace"))
        return
    conn.send_bytes(b"+")  # ready: from now on, a death is a request's doing
    where = f"process-{os.getpid()}/worker-0"
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not message:  # the stop message
            return
        queued_at, batch = pickle.loads(message)
        for item in batch:
            conn.send_bytes(_serve_packed(execute, item, queued_at, where))


class _Process:
    """One worker process, its end of the pipe, and the requests sent to it not yet answered (in order)."""

    def __init__(self, context: Any, payload: bytes):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_process_worker, args=(child, payload), name="ella-process", daemon=True)
        self.process.start()
        child.close()
        self.ready = False  # it has loaded the execution
        self.sent: deque[int] = deque()

    def stop(self, timeout: float) -> None:
        with contextlib.suppress(OSError):  # the process is gone already
            self.conn.send_bytes(b"")
        self.process.join(timeout)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(1.0)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(1.0)
        self.conn.close()


def _died(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


def _last_words(proc: _Process) -> bytes | None:
    """The first thing a process that died while starting sent (its "ready", or why it could not load)."""
    with contextlib.suppress(EOFError, OSError):
        if proc.conn.poll(0.5):
            return proc.conn.recv_bytes()
    return None


def _not_loaded(source: Source, said: bytes) -> RuntimeError:
    cause = said[1:].decode(errors="replace")
    return RuntimeError(f"a worker process could not load the source {shown(source, 200)}: {cause}")


def _run_processes(router: Any, requests: Sequence[Any]) -> list[Outcome]:
    """Each process is sent a batch, answers it request by request; a dead process fails only its current one."""
    from multiprocessing.connection import wait

    execution: Execution = router._execution
    _check_picklable(execution.source, "processes")
    payload = _dumps(execution)
    n = len(requests)
    results: list[Outcome | None] = [None] * n
    todo: deque[int] = deque(range(n))
    size = max(1, min(64, math.ceil(n / (router.workers * 4))))
    context = _process_context()
    queued_at = clock()
    processes: list[_Process] = []

    def send(proc: _Process) -> None:
        batch = []
        while todo and len(batch) < size:
            i = todo.popleft()
            try:
                batch.append(_pack_request(requests[i]))
            except pickle.PicklingError as exc:  # this request cannot travel: its own failure, the others go on
                results[i] = failed_call("router", requests[i], exc, "router", queued_at, clock())
                continue
            proc.sent.append(i)
        if batch:
            try:
                proc.conn.send_bytes(pickle.dumps((queued_at, batch), pickle.HIGHEST_PROTOCOL))
            except OSError:  # it died idle: the batch never reached it
                todo.extendleft(reversed(proc.sent))
                proc.sent.clear()
                bury(proc)

    def receive(proc: _Process, data: bytes) -> None:
        if data == b"+":
            proc.ready = True
            return
        if data[:1] == b"!":
            raise _not_loaded(execution.source, data)
        i = proc.sent.popleft()
        results[i] = _unpack_outcome(data, requests[i], execution.source.name, queued_at)

    def bury(proc: _Process) -> None:
        """A process died: fail the request it was serving; the rest of its batch, never started, go back."""
        proc.process.join(1.0)
        code = proc.process.exitcode
        said = _last_words(proc) if not proc.ready else None
        if said == b"+":  # it had loaded the source: its death is the current request's doing
            proc.ready = True
        proc.kill()
        processes.remove(proc)
        if said is not None and said[:1] == b"!":  # it told us why it could not load the source
            raise _not_loaded(execution.source, said)
        if not proc.ready:  # it died before it could serve anything: no request to blame, so stop
            raise RuntimeError(
                f"a worker process died while starting ({_died(code)}) before it could load the source "
                f"{shown(execution.source, 200)}; its error output went to the terminal that started Python "
                "(or Jupyter). In a script, start the run under `if __name__ == '__main__':`"
            )
        if proc.sent:
            i = proc.sent.popleft()
            error = WorkerDied(f"the worker process died ({_died(code)}) while serving request {shown(requests[i])}")
            log.warning("%s", error)
            results[i] = failed_call(
                execution.source.name, requests[i], error, f"process-{proc.process.pid}", queued_at, clock()
            )
            todo.extendleft(reversed(proc.sent))
        if todo:
            processes.append(_Process(context, payload))

    try:
        processes.extend(_Process(context, payload) for _ in range(min(router.workers, n)))
        while todo or any(p.sent for p in processes):
            for proc in list(processes):
                if not proc.sent and todo:
                    send(proc)
            busy = [p for p in processes if p.sent]
            if not busy:
                continue
            by_handle = {}
            for p in busy:
                by_handle[p.conn] = p
                by_handle[p.process.sentinel] = p
            for handle in wait(list(by_handle)):
                proc = by_handle[handle]
                if proc not in processes:
                    continue
                try:
                    while proc.conn.poll():
                        receive(proc, proc.conn.recv_bytes())
                except (EOFError, OSError):
                    bury(proc)
                    continue
                if proc.sent and not proc.process.is_alive():
                    bury(proc)
    except BaseException:  # Ctrl-C, most likely: no source call may start once run() has left
        for proc in processes:
            proc.kill()
        raise
    for proc in processes:
        proc.stop(5.0)
    return results  # type: ignore[return-value]


# -- dask: chunks as tasks, each run at most once ---------------------------------------------------

_STOPPED: set[str] = set()  # runs stopped by Ctrl-C, in this process: their chunks call nothing more


def _stop_run(run_id: str) -> None:
    _STOPPED.add(run_id)


class _TaskRuns:
    """A Dask task's runs, marked in its metadata on the scheduler (forgotten with the task: no cleanup).

    The scheduler runs a task again when its worker dies, whether the task was running there or had
    finished with its result still there. A run marks itself before it calls anything, and leaves its
    outcomes in its mark when done; a rerun finds the marks: outcomes to hand back without calling
    anything again, or a run that died midway (``crashed``).
    """

    def __init__(self) -> None:
        from dask.distributed import get_worker

        self.worker = get_worker()
        self.keys = [self.worker.get_current_task(), "ella-runs", uuid.uuid4().hex]
        self.crashed = False
        self.saved: list[bytes | None] | None = None

    def begin(self) -> bool:
        """Mark this run and read the others' marks, in one round trip; True if this is the first run."""
        marks = self._sync(self._begin)
        for mark, saved in marks.items():
            if mark != self.keys[-1]:
                if saved is None:
                    self.crashed = True
                else:
                    self.saved = saved
        return not (self.crashed or self.saved is not None)

    async def _begin(self) -> dict[str, Any]:
        scheduler = self.worker.scheduler
        _, marks = await asyncio.gather(
            scheduler.set_metadata(keys=self.keys, value=None),
            scheduler.get_metadata(keys=self.keys[:-1], default={}),
        )
        return marks

    def end(self, outcomes: list[bytes | None]) -> None:
        """Leave the outcomes in this run's mark: a rerun (the worker dies before they are collected) returns them."""
        self._sync(self.worker.scheduler.set_metadata, keys=self.keys, value=outcomes)

    def _sync(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        from distributed.utils import sync

        return sync(self.worker.loop, function, *args, **kwargs)


def serve_chunk(
    execution: Execution, items: Sequence[bytes], threads: int, queued_at: float, run_id: str
) -> list[bytes | None] | None:
    """A Dask task: serve a chunk of pickled requests with ``threads`` threads, once.

    Returns each outcome pickled (``None`` for requests not served after a stop), or ``None`` if
    a run of this chunk died midway (the scheduler reruns the tasks of a worker that died).
    """
    runs = _TaskRuns()
    if not runs.begin():
        return runs.saved
    where = f"dask-{os.getpid()}"
    execute = execution.execute

    def one(item: bytes, worker: str = "worker-0") -> bytes | None:
        if run_id in _STOPPED:
            return None
        return _serve_packed(execute, item, queued_at, f"{where}/{worker}")

    if threads == 1:
        outcomes = [one(item) for item in items]
    else:

        def in_pool(item: bytes) -> bytes | None:  # the pool names its threads "ella-chunk_<k>": shown as worker-<k>
            return one(item, "worker-" + threading.current_thread().name.rpartition("_")[2])

        with ThreadPoolExecutor(threads, thread_name_prefix="ella-chunk") as pool:
            outcomes = list(pool.map(in_pool, items))
    runs.end(outcomes)
    return outcomes


def _run_dask(router: Any, requests: Sequence[Any]) -> list[Outcome]:
    from dask.distributed import Client, LocalCluster, as_completed, wait

    execution: Execution = router._execution
    _check_picklable(execution.source, "dask")
    client, cluster = router.client, None
    if client is not None:
        _check_client(client)
    if client is None:  # the embedded default: a local cluster for this run only, on loopback
        cluster = LocalCluster(host="127.0.0.1", dashboard_address="127.0.0.1:0", processes=True)
        client = Client(cluster)
    run_id = uuid.uuid4().hex
    futures: dict[Any, list[int]] = {}
    try:
        nthreads = _cluster_threads(client)
    except BaseException:
        if cluster is not None:
            client.close()
            cluster.close()
        raise
    try:
        # At most `workers` requests at once: with fewer workers than cluster threads, one thread per task and
        # `workers` tasks; with more, a few tasks per cluster thread, each served by workers // threads threads.
        n = len(requests)
        if router.workers < nthreads:
            per_task, tasks = 1, router.workers
        else:
            per_task, tasks = router.workers // nthreads, 4 * nthreads
        queued_at = clock()
        results: list[Outcome | None] = [None] * n
        packed: dict[int, bytes] = {}
        for i, request in enumerate(requests):
            try:
                packed[i] = _pack_request(request)
            except pickle.PicklingError as exc:  # this request cannot travel: its own failure, the others go on
                results[i] = failed_call("router", request, exc, "router", queued_at, clock())
        serve = functools.partial(serve_chunk, execution, threads=per_task, queued_at=queued_at, run_id=run_id)

        def submit(indices: list[int]) -> Any:
            future = client.submit(serve, [packed[i] for i in indices], pure=False)
            futures[future] = indices
            return future

        def record(i: int, data: bytes) -> None:
            results[i] = _unpack_outcome(data, requests[i], execution.source.name, queued_at)

        todo = list(packed)
        size = max(1, math.ceil(len(todo) / max(1, min(len(todo), tasks))))
        crashed: list[int] = []
        parts = [todo[k : k + size] for k in range(0, len(todo), size)]
        chunks = client.map(serve, [[packed[i] for i in part] for part in parts], pure=False)  # one message
        futures.update(zip(chunks, parts, strict=True))
        # Results come in as each chunk ends, gathered in the background (not one round trip per chunk);
        # a cluster on which no chunk ends for DASK_STALL seconds is stuck: a clear error, not a hang.
        for future, part in _as_completed(as_completed(chunks, with_results=True, raise_errors=False)):
            if part is not None and not isinstance(part, list):  # an error, perhaps collecting a lost result
                part = _result(future)  # ask again: a lost result is computed again (its saved outcomes)
            indices = futures.pop(future)
            future.release()  # let the scheduler forget it: a worker dying later does not run it again
            if isinstance(part, list):
                for i, data in zip(indices, part, strict=True):
                    record(i, data)
            else:  # a run of the chunk died midway, or the chunk could not run
                crashed.extend(indices)
        for i in sorted(crashed):  # one request per task, one at a time: the one that kills a worker fails alone
            future = submit([i])
            part = _result(future)
            del futures[future]
            future.release()
            if isinstance(part, list):
                record(i, part[0])
            else:
                error = part or WorkerDied(f"the worker process died while serving request {shown(requests[i])}")
                results[i] = failed_call(execution.source.name, requests[i], error, "dask", queued_at, clock())
        return results  # type: ignore[return-value]
    except BaseException:  # Ctrl-C: tell the chunks to call nothing more, then wait (bounded) for them
        if cluster is None:
            client.run(_stop_run, run_id)
            wait(list(futures), timeout=5)
        client.cancel(list(futures))
        raise
    finally:
        if cluster is not None:
            client.close()
            cluster.close()


DASK_STALL = 300.0  # seconds without a chunk finishing, after which a Dask run is called stuck


def _check_client(client: Any) -> None:
    """A given ``client`` must be a running ``dask.distributed.Client`` whose scheduler answers: else a clear error.

    Before: a closed client failed deep inside Dask (``'NoneType' object has no attribute 'broadcast'``).
    """
    status = getattr(client, "status", None)
    if status != "running":
        raise ValueError(
            f"client must be a running dask.distributed Client; this one is {status!r} (closed, or its cluster "
            "is gone). Pass an open Client, or client=None for a local cluster per run"
        )


DASK_WORKERS_WAIT = 30.0  # seconds a cluster with no worker gets to start one before a run is refused


def _cluster_threads(client: Any) -> int:
    """The cluster's threads in all; a client whose scheduler cannot answer, or whose cluster has no worker
    (killed, scaled to 0) within ``DASK_WORKERS_WAIT`` seconds, is a clear error naming ``client``."""
    try:
        threads = sum(client.nthreads().values())
        if not threads:  # chunks sent now would wait DASK_STALL for a worker that may never come
            client.wait_for_workers(1, timeout=DASK_WORKERS_WAIT)
            threads = sum(client.nthreads().values())
    except TimeoutError:
        threads = 0
    except Exception as exc:
        raise RuntimeError(
            f"client cannot reach its scheduler ({shown(exc, 200)}): the cluster is closed or dead. "
            "Pass an open Client, or client=None for a local cluster per run"
        ) from None
    if not threads:
        raise RuntimeError(
            f"client's cluster has no worker (none came within {DASK_WORKERS_WAIT:g} s): its workers died or "
            "it was scaled to 0. Start workers (cluster.scale(n)), or pass client=None for a local cluster per run"
        )
    return threads


def _as_completed(pairs: Any) -> Any:
    """Iterate ``as_completed`` pairs, raising ``TimeoutError`` when none comes for ``DASK_STALL`` seconds."""
    done: SimpleQueue = SimpleQueue()

    def pump() -> None:
        try:
            for pair in pairs:
                done.put(pair)
        except BaseException as exc:  # handed to the caller's thread
            done.put(exc)
        done.put(None)

    threading.Thread(target=pump, name="ella-dask-results", daemon=True).start()
    while True:
        try:
            item = done.get(timeout=DASK_STALL)
        except Empty:
            raise TimeoutError(
                f"dask: no chunk finished for {DASK_STALL:g} s; the cluster seems stuck (see its dashboard)"
            ) from None
        if item is None:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def _result(future: Any) -> Any:
    """A chunk's outcomes; ``None`` if its worker died; or the error that kept it from running (a bounded wait)."""
    from dask.distributed import KilledWorker

    try:
        return future.result(timeout=DASK_STALL)
    except KilledWorker:
        return None
    except TimeoutError:
        raise TimeoutError(f"dask: a chunk did not finish within {DASK_STALL:g} s; the cluster seems stuck") from None
    except Exception as exc:
        return exc

"""``python -m ella_lab``: the guide's Phase 5 demo, and sweeps from the shell."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._checks import MAX_SECONDS, check_int, check_real, check_timeout, shown
from .experiments import make_source, request_ids
from .router import Router
from .timing import format_seconds


class _Parser(argparse.ArgumentParser):
    """An argument parser whose every complaint is one line on stderr, with exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


SEED_RANGE = (-(2**63), 2**63 - 1)


def _in_range(kind: type, name: str, value: object, low: float, high: float) -> None:
    """``value`` is a ``kind`` in ``[low, high]``; the message names ``name`` (as the library's checks do)."""
    if kind is not int:
        check_real(name, value, minimum=low, maximum=high)
    elif check_int(name, value, minimum=int(low)) > high:
        raise ValueError(f"{name} must be <= {int(high)}, got {shown(value)}")


def _bounded(kind: type, name: str, low: float, high: float) -> Callable[[str], Any]:
    """An argparse type: one ``kind`` in ``[low, high]``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an int' if kind is int else 'a number'}, got {text!r}"
            ) from None
        try:
            _in_range(kind, name, value, low, high)
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    return parse


def _numbers(kind: type, name: str, low: float, high: float) -> Callable[[str], list]:
    """Parse ``"1,2,4"`` into a non-empty list of ``kind``, each in ``[low, high]``, at most ``MAX_AXIS`` of them."""

    def parse(text: str) -> list:
        try:
            values = [kind(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, got {text!r:.80}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"{name} must name at least one value, got {text!r}")
        if len(values) > MAX_AXIS:
            raise argparse.ArgumentTypeError(f"{name} must name at most {MAX_AXIS} values, got {len(values)}")
        try:
            for value in values:
                _in_range(kind, name, value, low, high)
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return values

    return parse


MAX_AXIS = 100  # values on one sweep axis
MAX_WORKERS = 1_000  # threads
MAX_REQUESTS = 100_000  # the demo prints each one
MAX_CHAIN = 100  # sources in a chain
MAX_REPEATS = 100
MAX_LATENCY = 60.0  # seconds per simulated fetch


def _output_path(name: str, path: str | os.PathLike | None) -> str | None:
    """The path as text; an empty one (``--out "$OUT"`` with ``OUT`` unset) is refused, never taken for "."."""
    if path is None:
        return None
    text = os.fspath(path)
    if not text.strip():
        raise ValueError(f"{name} is empty (got {text!r}): name a path")
    return text


def check_writable_file(name: str, path: str | os.PathLike | None) -> None:
    """Refuse (``ValueError`` naming ``name``) an output file that could not be written, before any work starts.

    It must be a file name (not a folder, nor ending in ``/``), in a folder that exists, and a regular
    file if it exists (not ``/dev/full``); then it is opened for appending, as the real write will
    (an existing file keeps its content; one created by the check is removed again).
    """
    text = _output_path(name, path)
    if text is None:
        return
    target = Path(text)
    if text.endswith(("/", os.sep)) or target.is_dir():
        raise ValueError(f"{name} must be a file name, got the folder {text!r}")
    if not target.parent.is_dir():
        raise ValueError(f"{name}: the folder {str(target.parent)!r} does not exist (got {text!r})")
    if target.exists() and not target.is_file():
        raise ValueError(f"{name} must be a regular file, got {text!r}")
    existed = target.exists()
    try:
        with open(target, "ab"):
            pass
    except OSError as exc:
        raise ValueError(f"{name}: cannot write {text!r}: {exc.strerror or exc}") from None
    if not existed:
        with contextlib.suppress(OSError):
            target.unlink()


def check_writable_dir(name: str, path: str | os.PathLike | None) -> None:
    """Refuse (``ValueError`` naming ``name``) an output folder that could not be written, before any work starts.

    It is a folder, or does not exist yet and can be made in its nearest existing parent folder; the
    check writes a temporary file there (removed at once) and creates no folder.
    """
    text = _output_path(name, path)
    if text is None:
        return
    target = Path(text)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{name} must be a folder, got the file {text!r}")
    existing = target
    while not existing.exists():
        existing = existing.parent  # "." exists: the loop ends
    if not existing.is_dir():
        raise ValueError(f"{name}: {str(existing)!r} is a file, so {text!r} cannot be a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ValueError(f"{name}: cannot write in {str(existing)!r} (for {text!r}): {exc.strerror or exc}") from None


def check_plot_file(name: str, path: str | None) -> None:
    """A figure's file: writable, and named with a format matplotlib writes (``.png``, ``.svg``, ``.pdf``...)."""
    if path is None:
        return
    check_writable_file(name, path)
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in formats:
        shown_formats = ", ".join(f".{f}" for f in sorted(formats))
        raise ValueError(f"{name} must end in one of {shown_formats} (the figure's format), got {path!r}")


class _Failed(Exception):
    """The work could not start (a port in use), or its output could not be written after it was done (a
    full disk): one line, exit status 2."""


def _write(name: str, path: str, write: Callable[[str], object]) -> None:
    try:
        write(path)
    except OSError as exc:
        raise _Failed(f"{name}: could not write {path!r}: {exc.strerror or exc}") from None
    print(f"wrote {path}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m ella_lab", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the router does (to stderr)")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="the guide's Phase 5 scenario: 10 requests, 3 workers, 0.5 s each")
    demo.add_argument("--workers", type=_bounded(int, "workers", 1, MAX_WORKERS), default=3)
    demo.add_argument("--requests", type=_bounded(int, "requests", 0, MAX_REQUESTS), default=10)
    demo.add_argument(
        "--latency",
        type=_bounded(float, "latency", 0, MAX_LATENCY),
        default=0.5,
        help="seconds per fetch (default 0.5)",
    )
    demo.add_argument(
        "--failure-rate",
        type=_bounded(float, "failure_rate", 0, 1),
        default=0.0,
        help="fraction of fetches that fail (0..1)",
    )
    demo.add_argument(
        "--chain", type=_bounded(int, "chain", 1, MAX_CHAIN), default=1, help="primary plus (chain - 1) backup sources"
    )
    demo.add_argument("--seed", type=_bounded(int, "seed", *SEED_RANGE), default=0)

    commands.add_parser("check", help="the environment self-check to run before class")

    serve = commands.add_parser("serve", help="run a flaky HTTP data service on 127.0.0.1 until Ctrl-C")
    serve.add_argument(
        "--port", type=_bounded(int, "port", 0, 65535), default=0, help="0 (the default) takes a free port"
    )
    serve.add_argument("--name", default="service")
    serve.add_argument(
        "--latency", type=_bounded(float, "latency", 0, MAX_LATENCY), default=0.005, help="seconds per answer"
    )
    for option, what in (
        ("failure", "answered HTTP 500/503"),
        ("drop", "whose connection is dropped"),
        ("stall", "that never answer (until stopped)"),
    ):
        rate = _bounded(float, f"{option}_rate", 0, 1)
        serve.add_argument(f"--{option}-rate", type=rate, default=0.0, help=f"fraction {what}")
    serve.add_argument("--seed", type=_bounded(int, "seed", *SEED_RANGE), default=0)
    day = _bounded(float, "duration", 0, MAX_SECONDS)
    serve.add_argument("--duration", type=day, default=None, help="stop after this many seconds")

    sweep = commands.add_parser("sweep", help="throughput and success over workers × failure rates")
    sweep.add_argument(
        "--workers", type=_numbers(int, "workers", 1, MAX_WORKERS), default=[1, 2, 4, 8], help="e.g. 1,2,4,8"
    )
    sweep.add_argument("--failure-rate", type=_numbers(float, "failure_rate", 0, 1), default=[0.0], help="e.g. 0,0.2")
    sweep.add_argument("--chain", type=_numbers(int, "chain", 1, MAX_CHAIN), default=[1], help="e.g. 1,2,3")
    sweep.add_argument("--requests", type=_bounded(int, "requests", 0, MAX_REQUESTS), default=200)
    sweep.add_argument("--latency", type=_bounded(float, "latency", 0, MAX_LATENCY), default=0.01)
    sweep.add_argument("--repeats", type=_bounded(int, "repeats", 1, MAX_REPEATS), default=1)
    sweep.add_argument("--seed", type=_bounded(int, "seed", *SEED_RANGE), default=0)
    sweep.add_argument("--csv", help="write the table to this CSV file")
    sweep.add_argument("--plot", help="write the throughput figure to this PNG (or .svg, .pdf) file")

    from .grading.cli import add_parser as add_grade_parser

    add_grade_parser(commands)
    return parser


def _demo(args: argparse.Namespace) -> Callable[[], None]:
    """Check the demo's arguments; return the demo, ready to run."""
    source = make_source(args.chain, latency=args.latency, failure_rate=args.failure_rate, seed=args.seed)
    router = Router(source, workers=args.workers)
    requests = request_ids(check_int("requests", args.requests))
    return lambda: _run_demo(router, requests)


def _run_demo(router: Router, requests: list[str]) -> None:
    report = router.run(requests)
    for outcome in report:
        print(outcome)
    print()
    print(report.describe())


def _sweep(args: argparse.Namespace) -> Callable[[], None]:
    """Check the sweep's arguments (the sweep checks its settings before its first run, too)."""
    check_writable_file("--csv", args.csv)
    check_plot_file("--plot", args.plot)
    for k in args.workers:
        check_int("workers", k, minimum=1)
    for length in args.chain:
        check_int("chain", length, minimum=1)
    for p in args.failure_rate:
        make_source(1, latency=args.latency, failure_rate=p, seed=args.seed)
    check_int("requests", args.requests)
    check_int("repeats", args.repeats, minimum=1)
    return lambda: _run_sweep(args)


def _run_sweep(args: argparse.Namespace) -> None:
    from .experiments import sweep

    df = sweep(
        workers=args.workers,
        failure_rate=args.failure_rate,
        chain=args.chain,
        requests=args.requests,
        latency=args.latency,
        repeats=args.repeats,
        seed=args.seed,
        progress=sys.stderr.isatty(),
    )
    columns = ["workers", "failure_rate", "chain", "throughput_rps", "model_rps", "success_rate", "p50_s", "p99_s"]
    table = df[columns].copy()
    for col in ("p50_s", "p99_s"):
        table[col] = table[col].map(format_seconds)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    if args.csv:
        _write("--csv", args.csv, lambda path: df.to_csv(path, index=False))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        from .plots import plot_throughput

        ax = plot_throughput(df)
        ax.figure.tight_layout()
        _write("--plot", args.plot, lambda path: ax.figure.savefig(path, dpi=120))


def _serve(args: argparse.Namespace) -> Callable[[], None]:
    """Check the service's arguments; return the service's run, ready to start."""
    from .service import FlakyService

    duration = check_timeout("duration", args.duration)
    service = FlakyService(
        args.name,
        latency=args.latency,
        failure_rate=args.failure_rate,
        drop_rate=args.drop_rate,
        stall_rate=args.stall_rate,
        seed=args.seed,
        port=args.port,
    )
    return lambda: _run_service(service, duration)


def _run_service(service: object, duration: float | None) -> None:
    import contextlib
    import time

    try:
        service.start()  # type: ignore[attr-defined]
    except OSError as exc:  # the port is taken (a second serve), or not ours to take
        port = service.port  # type: ignore[attr-defined]
        raise _Failed(f"--port {port}: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    with service:  # type: ignore[attr-defined]
        print(f"{service.name} serving on {service.url}  (GET {service.url}/data/<request>; Ctrl-C stops)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the way to stop it
            time.sleep(duration if duration is not None else 10**9)
    print(f"{service.name} stopped; answers by status: {dict(sorted(service.served.items()))}")


def _check(args: argparse.Namespace) -> Callable[[], None]:
    return _run_check


def _run_check() -> None:
    from .selfcheck import noise_check, run_checks

    checks = run_checks(kernel=False)
    for check in checks:
        print(f"[{'ok' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
    # A busy machine is no broken environment: the noise is reported, never a failure.
    noise = noise_check()
    print(f"[{'ok' if noise.ok else 'busy'}] {noise.name}: {noise.detail}")
    if not all(check.ok for check in checks):
        raise SystemExit(1)


def _grade(args: argparse.Namespace) -> Callable[[], None]:
    """Check the grader's arguments; return the grading, ready to run."""
    from .grading.cli import prepare

    check_writable_dir("--out", args.out)  # before the class is graded, not after

    return prepare(args)


def _handout(args: argparse.Namespace) -> Callable[[], None]:
    """Check the hand-out's arguments; return the build, ready to run."""
    from .grading.cli import prepare_handout

    return prepare_handout(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(relativeCreated)8.1f ms %(threadName)s %(message)s")
    try:  # every argument is checked before anything starts
        commands = {
            "demo": _demo,
            "sweep": _sweep,
            "check": _check,
            "serve": _serve,
            "grade": _grade,
            "handout": _handout,
        }
        command = commands[args.command](args)
    except (ValueError, TypeError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    try:
        command()
    except _Failed as exc:  # a port in use; or the work is done and shown, but its file could not be written
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    return 0

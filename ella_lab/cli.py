"""``python -m ella_lab``: the guide's Phase 5 demo, and sweeps from the shell."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ._checks import check_int, check_timeout
from .experiments import make_source, request_ids
from .router import Router
from .timing import format_seconds


class _Parser(argparse.ArgumentParser):
    """An argument parser whose every complaint is one line on stderr, with exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _numbers(kind: type, name: str) -> Callable[[str], list]:
    """Parse ``"1,2,4"`` into a non-empty list of ``kind``."""

    def parse(text: str) -> list:
        try:
            values = [kind(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"{name} must name at least one value, got {text!r}")
        return values

    return parse


def _check_output(name: str, path: str | None) -> None:
    """An output file goes into a folder that exists, and is not itself a folder."""
    if path is None:
        return
    if Path(path).is_dir():
        raise ValueError(f"{name} must be a file name, got the folder {path!r}")
    if not Path(path).resolve().parent.is_dir():
        raise ValueError(f"{name}: the folder {str(Path(path).parent)!r} does not exist (got {path!r})")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m ella_lab", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the router does (to stderr)")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="the guide's Phase 5 scenario: 10 requests, 3 workers, 0.5 s each")
    demo.add_argument("--workers", type=int, default=3)
    demo.add_argument("--requests", type=int, default=10)
    demo.add_argument("--latency", type=float, default=0.5, help="seconds per fetch (default 0.5)")
    demo.add_argument("--failure-rate", type=float, default=0.0, help="fraction of fetches that fail (0..1)")
    demo.add_argument("--chain", type=int, default=1, help="primary plus (chain - 1) backup sources")
    demo.add_argument("--seed", type=int, default=0)

    commands.add_parser("check", help="the environment self-check to run before class")

    serve = commands.add_parser("serve", help="run a flaky HTTP data service on 127.0.0.1 until Ctrl-C")
    serve.add_argument("--port", type=int, default=0, help="0 (the default) takes a free port")
    serve.add_argument("--name", default="service")
    serve.add_argument("--latency", type=float, default=0.005, help="seconds per answer")
    serve.add_argument("--failure-rate", type=float, default=0.0, help="fraction answered HTTP 500/503")
    serve.add_argument("--drop-rate", type=float, default=0.0, help="fraction whose connection is dropped")
    serve.add_argument("--stall-rate", type=float, default=0.0, help="fraction that never answer (until stopped)")
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--duration", type=float, default=None, help="stop after this many seconds")

    sweep = commands.add_parser("sweep", help="throughput and success over workers × failure rates")
    sweep.add_argument("--workers", type=_numbers(int, "workers"), default=[1, 2, 4, 8], help="e.g. 1,2,4,8")
    sweep.add_argument("--failure-rate", type=_numbers(float, "failure_rate"), default=[0.0], help="e.g. 0,0.2")
    sweep.add_argument("--chain", type=_numbers(int, "chain"), default=[1], help="e.g. 1,2,3")
    sweep.add_argument("--requests", type=int, default=200)
    sweep.add_argument("--latency", type=float, default=0.01)
    sweep.add_argument("--repeats", type=int, default=1)
    sweep.add_argument("--seed", type=int, default=0)
    sweep.add_argument("--csv", help="write the table to this CSV file")
    sweep.add_argument("--plot", help="write the throughput figure to this PNG file")

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
    _check_output("csv", args.csv)
    _check_output("plot", args.plot)
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
        df.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        from .plots import plot_throughput

        ax = plot_throughput(df)
        ax.figure.tight_layout()
        ax.figure.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")


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

    with service:  # type: ignore[attr-defined]
        print(f"{service.name} serving on {service.url}  (GET {service.url}/data/<request>; Ctrl-C stops)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the way to stop it
            time.sleep(duration if duration is not None else 10**9)
    print(f"{service.name} stopped; answers by status: {dict(sorted(service.served.items()))}")


def _check(args: argparse.Namespace) -> Callable[[], None]:
    return _run_check


def _run_check() -> None:
    from .selfcheck import run_checks

    checks = run_checks(kernel=False)
    for check in checks:
        print(f"[{'ok' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
    if not all(check.ok for check in checks):
        raise SystemExit(1)


def _grade(args: argparse.Namespace) -> Callable[[], None]:
    """Check the grader's arguments; return the grading, ready to run."""
    from .grading.cli import prepare

    return prepare(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(relativeCreated)8.1f ms %(threadName)s %(message)s")
    try:  # every argument is checked before anything starts
        command = {"demo": _demo, "sweep": _sweep, "check": _check, "serve": _serve, "grade": _grade}[args.command](
            args
        )
    except (ValueError, TypeError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    command()
    return 0

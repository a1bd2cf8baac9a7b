"""Sheet 05 q2, main.py's exit status (builds on notebook 05's main() and __main__ guard): 0 when every request is
answered, 1 when some have no answer, 2 on bad arguments. Correct scripts written three ways pass the visible and
the hidden check; each real bug is rejected by both, naming it. The check runs the script in a subprocess, under a
bounded timeout."""

import pytest
from exercise_answers import assert_catalogue, reference

from ella_lab.exercises import phase5

pytestmark = pytest.mark.timeout(180)

Q = phase5.q2
GOOD = reference(phase5, Q, "SCRIPT")

BY_HAND = """
import sys

from ella_lab import FallbackChain, Router, SimulatedSource

OPTIONS = {"--requests": int, "--workers": int, "--primary-failure": float, "--backup-failure": float}


def parse(argv):
    values = {"--requests": 10, "--workers": 3, "--primary-failure": 0.3, "--backup-failure": 0.0}
    if len(argv) % 2:
        raise ValueError(f"every option takes a value: {argv}")
    for name, text in zip(argv[::2], argv[1::2]):
        if name not in OPTIONS:
            raise ValueError(f"unknown option {name}")
        values[name] = OPTIONS[name](text)
    if values["--requests"] < 1 or values["--workers"] < 1:
        raise ValueError("--requests and --workers must be at least 1")
    for name in ("--primary-failure", "--backup-failure"):
        if not 0.0 <= values[name] <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1")
    return values


def main(argv):
    try:
        values = parse(argv)
    except ValueError as exc:
        print(f"main.py: {exc}", file=sys.stderr)
        return 2
    chain = FallbackChain([
        SimulatedSource("primary", latency=0.002, failure_rate=values["--primary-failure"], seed=1),
        SimulatedSource("backup", latency=0.002, failure_rate=values["--backup-failure"], seed=2),
    ])
    report = Router(chain, workers=values["--workers"]).run([f"DataRequest-{i}" for i in range(values["--requests"])])
    print(report.describe())
    return 0 if all(outcome.ok for outcome in report) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
"""

RAISES_SYSTEM_EXIT = """
import argparse
import sys

import ella_lab


def rate(text):
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is less than 1")
    return value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=positive, default=10)
    parser.add_argument("--workers", type=positive, default=3)
    parser.add_argument("--primary-failure", type=rate, default=0.3)
    parser.add_argument("--backup-failure", type=rate, default=0.0)
    args = parser.parse_args()
    sources = [
        ella_lab.SimulatedSource("primary", latency=0.002, failure_rate=args.primary_failure, seed=1),
        ella_lab.SimulatedSource("backup", latency=0.002, failure_rate=args.backup_failure, seed=2),
    ]
    report = ella_lab.Router(ella_lab.FallbackChain(sources), workers=args.workers).run(
        ["DataRequest-%d" % i for i in range(args.requests)]
    )
    print(report.describe())
    if report.failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
"""

CORRECT = {"argparse and parser.error": GOOD, "a parser by hand": BY_HAND, "raise SystemExit": RAISES_SYSTEM_EXIT}


@pytest.mark.parametrize("script", CORRECT.values(), ids=CORRECT.keys())
def test_correct_scripts_pass_the_visible_and_the_hidden_check(script):
    visible = Q.judge(script)
    assert visible, visible.message
    hidden = Q.hidden_check(script)
    assert hidden, hidden.message


def bug(old, new, script=GOOD):
    assert old in script, old
    return script.replace(old, new)


CATALOGUE = {
    "the status thrown away (no sys.exit)": (
        bug("sys.exit(main(sys.argv[1:]))", "main(sys.argv[1:])"),
        "Without sys.exit the status is thrown away",
    ),
    "the number of failures as the status": (
        bug("return 1 if report.failed else 0", "return len(report.failed)"),
        "the number of requests with no answer",
    ),
    "True for success": (
        bug("return 1 if report.failed else 0", "return not report.failed"),
        "sys.exit(True) exits 1",
    ),
    "a request the backup served counted as failed": (
        bug("return 1 if report.failed else 0", "return 1 if any(o.source != 'primary' for o in report) else 0"),
        "a request the backup served is answered",
    ),
    "workers not checked: a traceback": (
        bug("args.requests < 1 or args.workers < 1", "args.requests < 1"),
        "ended in a traceback (exit status 1)",
    ),
    "rates not checked: a traceback": (
        bug("if not (0 <= args.primary_failure <= 1 and 0 <= args.backup_failure <= 1):", "if False:"),
        "ended in a traceback (exit status 1)",
    ),
    "rates read as int": (
        bug('"--primary-failure", type=float', '"--primary-failure", type=int'),
        "these arguments are right",
    ),
    "sys.exit with a text": (
        bug('parser.error("--requests and --workers must be at least 1")', 'sys.exit("bad --requests or --workers")'),
        "sys.exit with a text prints it and exits 1",
    ),
    "the arguments checked after routing": (
        bug(
            "    if args.requests < 1 or args.workers < 1:\n"
            '        parser.error("--requests and --workers must be at least 1")  # exits 2, before any routing\n',
            "",
        )
        .replace(
            "    print(report.describe())\n",
            "    print(report.describe())\n"
            "    if args.requests < 1 or args.workers < 1:\n"
            '        parser.error("--requests and --workers must be at least 1")\n',
        )
        .replace("workers=args.workers)", "workers=max(1, args.workers))"),
        "routed requests before it refused its arguments",
    ),
    "the refusal said on stdout": (
        bug(
            'parser.error("--requests and --workers must be at least 1")',
            'print("bad --requests or --workers"); sys.exit(2)',
        ),
        "without a word on stderr",
    ),
    "no guard": (
        bug('if __name__ == "__main__":\n    sys.exit(main(sys.argv[1:]))', "sys.exit(main(sys.argv[1:]))"),
        "importing main.py ran or printed something",
    ),
    "the backup first": (
        bug("FallbackChain([primary, backup])", "FallbackChain([backup, primary])"),
        "the primary comes first, FallbackChain([primary, backup])",
    ),
}


@pytest.mark.parametrize(("script", "expected"), CATALOGUE.values(), ids=CATALOGUE.keys())
def test_each_real_bug_is_rejected_by_the_visible_and_the_hidden_check_naming_it(script, expected):
    assert_catalogue(Q, script, expected)


def test_the_catalogue_is_large_enough_and_a_non_script_is_refused():
    assert len(CATALOGUE) >= 6 and len(CORRECT) >= 3
    assert "give the text of main.py" in Q.judge(42).message


def test_a_script_that_waits_for_input_is_stopped_under_the_bound():
    result = Q.judge(bug('if __name__ == "__main__":', 'input()\nif __name__ == "__main__":'))
    assert not result  # input() on a closed stdin fails at once; either way the check returns

"""Bad input that used to get through (issue 11): each is now a ValueError or TypeError naming the
parameter and the value, and on the command line one line on stderr with exit status 2."""

import subprocess
import sys

import pytest

from ella_lab import FlakyService, HttpSource, Retry, Router, ScriptedSource, SimulatedSource
from ella_lab.cli import main
from ella_lab.experiments import sweep
from ella_lab.resilience import contention

HUGE = 10**400  # float(HUGE) raises OverflowError


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: SimulatedSource("s", latency=1e300), ValueError, ["latency", "1e+300"]),
        (lambda: SimulatedSource("s", jitter=1e300), ValueError, ["jitter", "1e+300"]),
        (lambda: SimulatedSource("s", latency=HUGE), ValueError, ["latency", "10000"]),
        (lambda: Router(str, timeout=HUGE), ValueError, ["timeout", "10000"]),
        (lambda: Retry(base=HUGE), ValueError, ["base", "10000"]),
        (lambda: Retry(cap=float("inf")), ValueError, ["cap", "inf"]),
        (lambda: ScriptedSource("s", fail_on="DataRequest-3"), TypeError, ["fail_on", "'DataRequest-3'"]),
        (lambda: ScriptedSource("s", fail_on=3), TypeError, ["fail_on", "3"]),
        (lambda: Router(str, on_full="reject"), TypeError, ["on_full", "max_pending"]),
        (lambda: Retry(on=KeyboardInterrupt), TypeError, ["on", "KeyboardInterrupt"]),
        (lambda: Retry(on=(ValueError, SystemExit)), TypeError, ["on", "SystemExit"]),
        (lambda: contention(service=-1), ValueError, ["service", "-1"]),
        (lambda: contention(service=HUGE), ValueError, ["service"]),
        (lambda: HttpSource("h", "http://"), ValueError, ["url", "'http://'"]),
        (lambda: HttpSource("h", "http://127.0.0.1:99999"), ValueError, ["url", "99999"]),
        (lambda: HttpSource("h", "ftp://127.0.0.1/"), ValueError, ["url", "ftp"]),
        (lambda: HttpSource("h", "http://127.0.0.1:1", max_bytes=0), ValueError, ["max_bytes", "0"]),
        (lambda: FlakyService(name=None), TypeError, ["name", "None"]),
        (lambda: FlakyService(latency=1e300), ValueError, ["latency"]),
        (lambda: sweep(workers=[], progress=False), ValueError, ["workers", "[]"]),
        (lambda: sweep(workers=[1, 0], requests=2, progress=False), ValueError, ["workers", "0"]),
    ],
)
def test_bad_input_names_the_parameter_and_the_value(make, error, words):
    with pytest.raises(error) as info:
        make()
    assert not isinstance(info.value, OverflowError)
    for word in words:
        assert word in str(info.value)


def test_retry_schedules_of_any_length_do_not_overflow():
    delays = Retry(attempts=1100, base=0.01, cap=1.0, jitter="none").delays("k")
    assert len(delays) == 1099 and delays[-1] == 1.0
    assert max(Retry(attempts=1100, base=0.01, cap=1.0).delays("k")) <= 1.0


def test_huge_but_valid_values_still_pass():
    assert Router(str, timeout=86_400).run(["a"])[0].ok
    assert SimulatedSource("s", latency=86_400).latency == 86_400.0
    assert ScriptedSource("s", fail_on=["DataRequest-3"]).fail_on == {"DataRequest-3"}


def run_cli(*argv):
    return subprocess.run([sys.executable, "-m", "ella_lab", *argv], capture_output=True, text=True, timeout=60)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["demo", "--latency", "1e300"], ["latency", "1e+300"]),
        (["demo", "--requests", "-1"], ["requests", "-1"]),
        (["sweep", "--workers", ","], ["workers", "','"]),
        (["sweep", "--workers", "1,0"], ["workers", "0"]),
        (["sweep", "--failure-rate", "0,nan"], ["failure_rate", "nan"]),
        (["sweep", "--csv", "/nonexistent-folder/out.csv"], ["csv", "/nonexistent-folder"]),
        (["sweep", "--plot", "/nonexistent-folder/out.png"], ["plot", "/nonexistent-folder"]),
        (["serve", "--duration", "inf"], ["duration", "inf"]),
        (["serve", "--duration", "-1"], ["duration", "-1"]),
        (["serve", "--port", "99999"], ["port", "99999"]),
    ],
)
def test_the_cli_checks_every_argument_first_and_answers_in_one_line(argv, words):
    proc = run_cli(*argv)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""  # nothing was started
    for word in words:
        assert word in lines[0]


def test_the_cli_checks_before_running(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["sweep", "--workers", "1", "--requests", "5", "--csv", str(tmp_path / "missing" / "x.csv")])
    assert info.value.code == 2
    assert capsys.readouterr().out == ""  # the sweep never ran


def test_a_huge_sweep_axis_is_refused_before_it_is_built():
    # phase_diagram(range(10**9), [1.0]) built a billion-long list before any check (killed at 60 s)
    from ella_lab.experiments import sweep
    from ella_lab.sim import phase_diagram

    with pytest.raises(ValueError, match="loads must name at most 1000 values"):
        phase_diagram(range(10**9), [1.0])
    with pytest.raises(ValueError, match="workers must name at most 1000 values"):
        sweep(workers=iter(range(1, 10**12)), progress=False)

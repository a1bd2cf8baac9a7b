"""The claims API: exact bands, widening by measured noise only, a box for learners, a failure in strict mode."""

import math

import pytest

from ella_lab import claims
from ella_lab.claims import Claim, ClaimMissed, Noise, check, measure

QUIET = Noise(1e-7, 5e-5, 1e-4, 2, 0.1, 1.0)
BUSY = Noise(1e-7, 0.004, 0.010, 2, 3.5, 0.45)


@pytest.fixture
def learner(monkeypatch):
    monkeypatch.delenv(claims.ENV, raising=False)
    monkeypatch.setattr(claims, "calibrate", lambda fresh=False: QUIET)


@pytest.fixture
def strict_mode(monkeypatch):
    monkeypatch.setenv(claims.ENV, "strict")
    monkeypatch.setattr(claims, "calibrate", lambda fresh=False: QUIET)


def test_a_claim_holds_inside_its_band_and_misses_outside():
    c = Claim("takes 4 rounds", 0.041, low=0.04, high=0.06)
    assert c.holds(QUIET)
    assert not Claim("takes 4 rounds", 0.061, low=0.04, high=0.06).holds(QUIET)
    assert not Claim("takes 4 rounds", 0.039, low=0.04, high=0.06).holds(QUIET)
    assert not Claim("nan is no measurement", math.nan, low=0).holds(QUIET)
    assert Claim("open above", 1e9, low=1, unit="").holds()


def test_late_widens_the_upper_bound_by_exactly_the_measured_lateness():
    c = Claim("4 rounds of 10 ms", 0.075, low=0.04, high=0.06, late=4)
    assert c.allowed(BUSY) == (0.04, pytest.approx(0.06 + 4 * 0.010))
    assert c.holds(BUSY) and not c.holds(QUIET)
    assert c.allowed(None) == (0.04, 0.06)  # no noise measured: no widening
    assert not Claim("lower bound is never widened", 0.039, low=0.04, high=0.06, late=4).holds(BUSY)


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"says": "", "measured": 1, "low": 0}, ValueError, "says"),
        ({"says": "x", "measured": "1", "low": 0}, TypeError, "measured"),
        ({"says": "x", "measured": 1}, ValueError, "needs a bound"),
        ({"says": "x", "measured": 1, "low": 2, "high": 1}, ValueError, "low must not exceed high"),
        ({"says": "x", "measured": 1, "low": 0, "unit": "ms"}, ValueError, "unit"),
        ({"says": "x", "measured": 1, "low": 0, "late": -1}, ValueError, "late"),
        ({"says": "x", "measured": 1, "low": 0, "late": 1, "unit": "x"}, ValueError, "late widens a time"),
        ({"says": "x", "measured": True, "low": 0}, TypeError, "measured"),
        ({"says": "x", "measured": 1, "low": math.nan}, ValueError, "low"),
        ({"says": "x", "measured": 1, "low": -math.inf}, ValueError, "low must be a finite number"),
        ({"says": "x", "measured": 1, "high": math.inf}, ValueError, "high must be a finite number"),
        ({"says": "x", "measured": 1, "high": 2, "late": math.inf}, ValueError, "late must be a finite number"),
        ({"says": "x", "measured": 1, "low": 1, "high": 2, "model": 5}, ValueError, "model must lie in its own band"),
    ],
)
def test_bad_claims_name_the_parameter(kwargs, error, text):
    with pytest.raises(error, match=text):
        Claim(**kwargs)


def test_measure_returns_at_once_when_the_claims_hold(learner, capsys):
    runs = []
    got = measure(lambda: runs.append(1) or 0.05, lambda t: [Claim("50 ms", t, low=0.04, high=0.06)])
    assert got == 0.05 and len(runs) == 1 and capsys.readouterr().out == ""


def test_measure_measures_again_and_keeps_the_run_that_held(learner, capsys):
    values = iter([0.5, 0.5, 0.05])
    got = measure(lambda: next(values), lambda t: Claim("50 ms", t, low=0.04, high=0.06), tries=3)
    assert got == 0.05 and capsys.readouterr().out == ""


def test_measure_judges_a_first_result_given_and_runs_only_on_a_miss(learner, capsys):
    runs = []
    got = measure(lambda: runs.append(1) or 0.05, lambda t: Claim("50 ms", t, low=0.04, high=0.06), first=0.05)
    assert got == 0.05 and runs == [] and capsys.readouterr().out == ""  # it held: nothing run again
    got = measure(lambda: runs.append(1) or 0.05, lambda t: Claim("50 ms", t, low=0.04, high=0.06), first=0.5)
    assert got == 0.05 and runs == [1] and capsys.readouterr().out == ""  # a miss: measured again, once
    got = measure(lambda: runs.append(1) or (None, 0.5), lambda r: Claim("50 ms", r[1], high=0.06), first=(None, 0.5),
                  tries=2)
    assert got == (None, 0.5) and len(runs) == 2 and "measured 2 times" in capsys.readouterr().out


def test_strict_mode_fails_when_the_first_result_and_the_re_runs_all_miss(strict_mode):
    with pytest.raises(ClaimMissed, match="measured 3 times"):
        measure(lambda: 1.0, lambda t: [Claim("fast", t, high=0.1)], first=1.0)


def test_a_learner_sees_a_box_and_the_cell_goes_on(learner, capsys):
    runs = []
    got = measure(lambda: runs.append(1) or 0.5, lambda t: [Claim("join() returns after 4 rounds", t, high=0.06)])
    out = capsys.readouterr().out
    assert got == 0.5 and len(runs) == 3
    assert "join() returns after 4 rounds" in out and "measured 500 ms" in out and "at most 60.0 ms" in out
    assert "measured 3 times" in out and "wakes late" in out and "What to try" in out


def test_strict_mode_fails_the_cell_naming_the_claim_and_the_value(strict_mode):
    with pytest.raises(ClaimMissed, match=r"ratio above 2: measured 1\.5x, expected at least 2x") as caught:
        check(Claim("ratio above 2", 1.5, low=2, unit="x"))
    assert isinstance(caught.value, AssertionError)
    with pytest.raises(AssertionError, match="measured 3 times"):
        measure(lambda: 1.0, lambda t: [Claim("fast", t, high=0.1)])


def test_check_passes_quietly_and_reports_only_the_missed_claims(learner, capsys):
    assert check(Claim("a", 1, low=0, unit=""), Claim("b", 2, high=3, unit="")) is None  # a last line prints nothing
    assert capsys.readouterr().out == ""
    check(Claim("holds", 1, low=0, unit=""), Claim("misses", 5, high=3, unit=""))
    out = capsys.readouterr().out
    assert "misses" in out and "holds:" not in out


def test_the_box_renders_as_html_with_the_claim_escaped():
    box = claims.MissedClaims([Claim("a <b> & c", 0.2, high=0.1)], BUSY, 3)
    page = box._repr_html_()
    assert "a &lt;b&gt; &amp; c" in page and "200 ms" in page and "10.0 ms" in page


def test_measure_rejects_bad_arguments():
    with pytest.raises(ValueError, match="tries"):
        measure(lambda: 1, lambda r: [], tries=0)
    with pytest.raises(TypeError, match="callables"):
        measure(1, lambda r: [])
    with pytest.raises(TypeError, match="Claim objects"):
        check("not a claim")


def test_calibration_measures_this_machine():
    noise = claims.calibrate(fresh=True)
    assert noise.timer_step_s > 0 and noise.cores >= 1
    assert 0 <= noise.wake_late_p50_s <= noise.wake_late_p90_s < 5
    assert 0 < noise.cpu_share <= 1
    assert claims.calibrate() is noise  # kept for a while: claims do not re-measure it every time
    assert len(noise.rows()) == 7 and "wakes late" in str(noise) and "stated resolution" in str(noise)


def test_the_busy_loop_share_is_the_median_of_its_spans(monkeypatch):
    # five spans that got 90 %, 10 %, 80 %, 100 % and 20 % of a core: one preempted span (or two) does not
    # decide; the median is 80 %, where a single span could say 10 % and the mean says 60 %
    # a fake clock: every reading 0.25 s after the last, so each span (0.5 s) runs from one reading to the
    # fourth, 0.75 s of wall time; thread_time says how much of that the loop got
    now = iter(0.25 * i for i in range(1, 100))
    cpu = iter([t for span, share in enumerate([0.9, 0.1, 0.8, 1.0, 0.2]) for t in (span, span + 0.75 * share)])
    monkeypatch.setattr(claims, "clock", lambda: next(now))
    monkeypatch.setattr(claims.time, "thread_time", lambda: next(cpu))
    assert claims._cpu_share(spans=5, span=0.5) == pytest.approx(0.8)
    assert claims.CPU_SPANS * claims.CPU_SPAN_S >= 0.1  # at least 100 ms of busy loop in all


def test_strict_is_switched_on_only_by_the_variable(monkeypatch):
    monkeypatch.delenv(claims.ENV, raising=False)
    assert not claims.strict()
    monkeypatch.setenv(claims.ENV, "strict")
    assert claims.strict()


def _run_cells(sources, env_value):
    import os

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    saved = os.environ.pop(claims.ENV, None)
    if env_value is not None:
        os.environ[claims.ENV] = env_value
    try:
        NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    finally:
        os.environ.pop(claims.ENV, None)
        if saved is not None:
            os.environ[claims.ENV] = saved
    return nb


MISSING = [
    "from ella_lab.claims import Claim, measure",
    "r = measure(lambda: 2.0, lambda t: [Claim('fast', t, high=1.0)])",
    "print('went on', r)",
]


def test_in_a_kernel_a_learner_gets_a_styled_box_and_run_all_goes_on():
    nb = _run_cells(MISSING, None)
    outputs = [o for c in nb.cells for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    box = next(o for o in outputs if o.output_type == "display_data")
    assert "Measured claim not met" in box.data["text/html"] and "fast: measured 2.00 s" in box.data["text/plain"]
    assert nb.cells[2].outputs[0].text == "went on 2.0\n"


def test_in_the_test_run_the_same_miss_fails_the_cell():
    nb = _run_cells(MISSING, "strict")
    errors = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert errors and errors[0].ename == "ClaimMissed" and "fast: measured 2.00 s" in errors[0].evalue


def test_a_calibration_that_never_woke_widens_nothing():
    stalled = Noise(1e-7, math.inf, math.inf, 2, 9.0, 0.1)
    c = Claim("under 1 ms", 99.0, high=0.001, late=4)
    assert c.allowed(stalled) == (-math.inf, 0.001) and not c.holds(stalled)


def test_no_claims_is_an_error_not_a_pass(learner):
    with pytest.raises(ValueError, match="no claims"):
        measure(lambda: 1, lambda r: [])
    with pytest.raises(ValueError, match="no claims"):
        check()


@pytest.mark.parametrize(
    "claim, text",
    [
        (Claim("ratio", 1.9996, low=2, unit="x"), "measured 1.9996x, expected at least 2x"),
        (Claim("share", 0.79996, low=0.8, unit="%"), "measured 79.996%, expected at least 80%"),
        (Claim("time", 0.49996, low=0.5, high=0.75), "measured 0.49996 s, expected 0.5 s to 0.75 s"),
        (Claim("time", 0.2, high=0.1), "measured 200 ms, expected at most 100 ms"),
        (Claim("nan", math.nan, low=1, unit="x"), "measured n/a"),
    ],
)
def test_a_miss_never_reads_as_equal_to_its_bound(claim, text):
    assert not claim.holds(QUIET) and text in claim.line(QUIET)

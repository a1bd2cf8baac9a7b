"""Notebook 05's examples/main.py and its replay of the guide's property: what the notebook's prose says of them."""

import runpy
from pathlib import Path

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from ella_lab import cli
from ella_lab.experiments import request_ids
from ella_lab.guide import run_guide_router

MAIN = runpy.run_path(str(Path(__file__).parent.parent / "examples" / "main.py"))


def _refusal(main, argv: list[str], capsys) -> str:
    """The one line a CLI prints for a bad option, after its program name (exit status 2)."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    return err.split(": error: ", 1)[1]


@pytest.mark.parametrize(
    "option, value",
    [("--workers", "0"), ("--workers", "x"), ("--requests", "-1"), ("--failure-rate", "1.5"), ("--failure-rate", "y")],
)
def test_main_py_words_a_bad_option_as_the_demo_does(option, value, capsys):
    script = _refusal(MAIN["main"], [option, value], capsys)
    demo = _refusal(cli.main, ["demo", option, value], capsys)
    assert script == demo and f"argument {option}:" in script and value in script


def test_main_py_sources_share_a_seed_but_not_a_failure_pattern():
    chain = MAIN["build_chain"](latency=0.0, failure_rate=0.3, seed=8)
    primary, backup = chain.sources
    patterns = [[source.fails(r) for r in request_ids(200)] for source in (primary, backup)]
    assert primary.seed == backup.seed == 8 and patterns[0] != patterns[1]  # the name is part of the hash
    both = sum(a and b for a, b in zip(*patterns, strict=True))
    assert 6 <= both <= 30  # independent: about p² = 9 % of 200 fail on both (18), not p = 30 % (60)


def test_the_guides_property_shrinks_to_one_worker_and_the_first_request():
    """Notebook 05's hypothesis run of the guide's router: the case it reports is the smallest, not an empty set."""

    @settings(max_examples=20, derandomize=True, deadline=None, database=None, print_blob=False,
              phases=[Phase.generate, Phase.shrink])
    @given(workers=st.integers(1, 4), failing=st.sets(st.integers(0, 9), max_size=3))
    def guide_loses_nothing(workers, failing):
        fail_on = {f"DataRequest-{i}" for i in failing}
        run = run_guide_router(workers, 10, latency=0.001, idle_timeout=0.02, fail_on=fail_on, join_timeout=0.1)
        assert run.joined, f"join() did not return within 0.1 s; {len(run.lost)} requests lost"

    with pytest.raises(AssertionError, match=r"join\(\) did not return within 0\.1 s") as found:
        guide_loses_nothing()
    notes = "\n".join(getattr(found.value, "__notes__", []))
    assert "workers=1," in notes and "failing={0}," in notes and "failing=set()" not in notes

"""What notebooks 00 to 02 take for granted about the repository, checked here rather than in a learner's cell."""

import json
import re
from pathlib import Path

from ella_lab import Router, SimulatedSource
from ella_lab.experiments import request_ids
from ella_lab.selfcheck import QUIET_CPU_SHARE, QUIET_WAKE_LATE_S

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def prose(name: str) -> str:
    cells = json.loads((NOTEBOOKS / name).read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def test_the_index_lists_every_notebook_and_one_sheet_for_each_from_01_to_09():
    contents = sorted(p.name for p in NOTEBOOKS.glob("[01][0-9]-*.ipynb") if not p.name.startswith("00"))
    sheets = sorted(p.name for p in (NOTEBOOKS / "exercises").glob("ex[0-9][0-9]-*.ipynb"))
    assert contents == [f"{stem}.ipynb" for stem in [
        "01-mission", "02-environment", "03-threaded-router", "04-fallback-recovery",
        "05-integration-and-testing", "06-optimization", "07-resilience-patterns", "08-beyond-threads",
        "09-real-io", "10-overload-and-metastable-failures"]]  # fmt: skip
    assert sheets == [f"ex{name}" for name in contents[:9]]
    table = prose("00-index.ipynb").split("## Contents")[1].split("**Exercise sheets**")[0]
    assert re.findall(r"\]\(((?!00)[01]\d-[^)]+\.ipynb)\)", table) == contents  # the table, in order


def test_a_replay_of_two_runs_stays_small_enough_to_keep_in_a_notebook():
    source = SimulatedSource("primary", latency=0.005)
    one = Router(source, workers=1).run(request_ids(10))
    three = Router(source, workers=3).run(request_ids(10))
    movie = one.replay(three, titles=["1 worker", "3 workers"])
    assert 0 < len(movie.html) < 2_000_000  # notebook 01 saves it with its outputs


def test_the_makefile_takes_the_guides_steps_that_notebook_02_prints():
    steps = (ROOT / "Makefile").read_text()
    for command in (" -m venv ", " -m pip install --quiet --upgrade pip", " -m pip install", " -m ipykernel install"):
        assert command in steps, command


def test_notebook_02_quotes_the_quiet_thresholds_the_calibration_uses():
    text = prose("02-environment.ipynb")
    assert f"less than {QUIET_WAKE_LATE_S * 1e3:g} ms late" in text
    assert f"more than {QUIET_CPU_SHARE:.0%}".replace("%", " %") in text

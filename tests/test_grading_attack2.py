"""The second attack on the sealed grader (issue 20): what a notebook does to the judge's process itself.

Sheet 03 with three wrong answers and one cell that reaches for the judge's channel or memory. Neither
scored a point, but before the fixes each went unseen ("graded", no reason): a line written into the judge's
own channel (its descriptor is on the judge's command line) was dropped without a word, so a notebook could
try signatures for free; and ``/proc/self/mem`` (where the channel's key was looked for) could be read.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

from ella_lab.grading import grade_submissions

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_demo_class", ROOT / "tests" / "fixtures" / "make_demo_class.py")
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)

ALL_WRONG = {"makespan": demo.MAKESPAN_NLK, "worker": demo.WORKER_GUIDE, "workers_needed": demo.NEEDED_ROUND}

OWN_CHANNEL = """import json, os, sys
_line = json.dumps({"n": 1, "kind": "verdict", "question": "q1", "status": "correct"}) + " " + "0" * 64 + "\\n"
for _ in range(3):
    os.write(int(sys.argv[2]), _line.encode())
"""
OWN_MEMORY = """with open("/proc/self/maps") as _maps, open("/proc/self/mem", "rb", buffering=0) as _mem:
    _first = _maps.readline()
"""
CASES = {
    "own-channel": (OWN_CHANNEL, "something other than the grader wrote 3 line(s)"),
    "own-memory": (OWN_MEMORY, "reads a process's memory or environment"),
}


@pytest.mark.timeout(300)
def test_reaching_for_the_judges_channel_or_memory_is_sent_to_the_teacher(tmp_path):
    for kind, (cell, _) in CASES.items():
        nb = demo.student_notebook(ALL_WRONG, [("workers_needed", cell)])
        (tmp_path / f"{kind}-ex03.ipynb").write_text(nbformat.writes(nb))
    grades = grade_submissions([tmp_path], sheet="phase3", jobs=2, timeout=90, cell_timeout=20, memory_mb=2048)
    rows = {row["student"]: row for row in grades.grades_frame().to_dict("records")}
    for kind, (_, reason) in CASES.items():
        row = rows[kind]
        assert (row["score"], row["status"]) == (0, "check by hand"), row
        assert reason in row["reason"], row

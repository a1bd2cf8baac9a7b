"""The second attack on the sealed grader (issue 20): what a notebook does to the judge's process itself.

Sheet 03 with three wrong answers and one cell that reaches for the judge's channel or memory. Neither
scored a point, but before the fixes each went unseen ("graded", no reason): a line written into the judge's
own channel (its descriptor is on the judge's command line) was dropped without a word, so a notebook could
try signatures for free; and ``/proc/self/mem`` (where the channel's key was looked for) could be read. And
what a notebook wrote in /tmp, /var/tmp or /dev/shm stayed there after its grading, unbounded but per file.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from pathlib import Path

import nbformat
import pytest

from ella_lab.grading import grade_submissions
from ella_lab.grading.sandbox import SCRATCH_MB
from ella_lab.grading.supervise import namespaces_work

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_demo_class", ROOT / "tests" / "fixtures" / "make_demo_class.py")
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)

ALL_WRONG = {"makespan": demo.MAKESPAN_NLK, "get_once": demo.GET_ONCE_NO_LOCK, "workers_needed": demo.NEEDED_ROUND}

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


@pytest.mark.timeout(300)
@pytest.mark.skipif(not namespaces_work(), reason="no user namespaces: the shared temporary folders are the system's")
def test_what_a_notebook_writes_in_temporary_folders_is_bounded_and_gone_after(tmp_path):
    """Before: files left in /tmp, /var/tmp and /dev/shm after the grading, and 1 GiB each could be written
    until the disk was full. Now all it writes is one tmpfs of ``SCRATCH_MB``, gone with its namespace."""
    mark = f"ella-left-{uuid.uuid4().hex}"
    cell = f"""import os
for _folder in ("/tmp", "/var/tmp", "/dev/shm"):
    with open(os.path.join(_folder, "{mark}"), "wb") as _f:
        _f.write(b"x")
_written = 0
try:
    with open("big.bin", "wb") as _f:
        for _ in range(2 * {SCRATCH_MB}):
            _f.write(b"x" * 2**20)
            _written += 1
except OSError:
    pass
assert _written < {SCRATCH_MB}, _written
"""
    nb = demo.student_notebook(ALL_WRONG, [("makespan", cell)])
    (tmp_path / "left-ex03.ipynb").write_text(nbformat.writes(nb))
    grades = grade_submissions([tmp_path], sheet="phase3", jobs=1, timeout=90, cell_timeout=30, memory_mb=2048)
    row = grades.grades_frame().to_dict("records")[0]
    assert row["status"] == "graded" and "raised" not in row["reason"], row  # the cell's own assert held
    left = [folder for folder in ("/tmp", "/var/tmp", "/dev/shm") if os.path.exists(os.path.join(folder, mark))]
    for folder in left:
        os.remove(os.path.join(folder, mark))
    assert left == []

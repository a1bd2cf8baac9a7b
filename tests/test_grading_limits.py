"""The grader's memory limit stops a notebook that fills the memory, not one that starts many threads.

The limit was the address space (``RLIMIT_AS``): each thread reserves its stack (8 MiB by default) and glibc a
malloc arena (64 MiB, up to 8 per core) whether it uses them or not, so a walkthrough's sweep up to 256 workers
(walk03; walk08: 1024) raised ``RuntimeError: can't start new thread`` under a 2 GiB limit (seen: 107 threads,
with 244 MiB used) while using little memory. The hog stays stopped (``tests/test_grading.py``, jon: 10 GiB in a cell).
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
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux: rlimits as on the graders")

MANY_THREADS = """\
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

together = threading.Barrier(1024, timeout=30)  # all alive at once, as in walk08's sweep (walk03: 256)
with ThreadPoolExecutor(max_workers=1024) as pool:
    started = list(pool.map(lambda i: pd.Series(np.arange(1000)).sum() > 0 and together.wait() >= 0, range(1024)))
assert len(started) == 1024
"""

HOG = "hog = bytearray(10 * 2**30)"


def hand_in(folder: Path, student: str, cell: str) -> None:
    nb = demo.student_notebook(demo.ALL_RIGHT, [("get_once", cell)])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{student}-ex03.ipynb").write_text(nbformat.writes(nb))


def test_1024_threads_start_under_the_memory_limit_and_a_hog_is_still_stopped(tmp_path):
    hand_in(tmp_path, "sweep", MANY_THREADS)
    hand_in(tmp_path, "hog", HOG)
    grades = grade_submissions([tmp_path], sheet="phase3", jobs=2, timeout=90, cell_timeout=40, memory_mb=2048)
    table = grades.grades_frame().set_index("student")
    assert (table.loc["sweep", "status"], table.loc["sweep", "reason"]) == ("graded", ""), table.loc["sweep"].to_dict()
    assert "ran out of memory (limit 2048 MiB)" in table.loc["hog", "reason"], table.loc["hog"].to_dict()

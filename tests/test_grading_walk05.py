"""Walkthrough 05 with every model answer is graded as it runs in ``notebooks/``, its checks still hidden.

Graded, it was "check by hand" with three errors (seen): its cells read ``../examples/main.py`` (and collect
``../tests/test_properties.py``), which did not exist beside the grader's copy of the notebook; and its
``@given`` cells made Hypothesis read the source of every loaded module, the checks' among them, for constants
to try, which the grader took for the notebook reading the checks' files. The grader now links those project
files (no check, no solution) beside the notebook, and refuses Hypothesis's read silently (it skips a module
it cannot read). The notebook's own read of a check's file, or of a test that is not linked, is as before.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from ella_lab.grading import grade_submissions
from ella_lab.tools.student import answer_key

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK05 = ROOT / "notebooks" / "05-integration-and-testing.ipynb"
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux: the grader's sandbox")

SLY = """\
import os
from hypothesis.internal.constants_ast import constants_from_module

assert os.path.exists("../examples/main.py")
assert not os.path.exists("../tests/test_grading.py")  # only the files a walkthrough reads
scanned = constants_from_module(ex, limit=False)  # Hypothesis's scan, called by the notebook: refused
assert len(scanned) == 0
"""


@pytest.mark.timeout(400)
def test_walkthrough_05_with_the_model_answers_is_graded_and_the_checks_stay_hidden(tmp_path):
    key = answer_key(NOTEBOOK05)
    (tmp_path / "key.ipynb").write_text(nbformat.writes(key))
    sly = answer_key(NOTEBOOK05)
    sly.cells = [next(c for c in sly.cells if c.cell_type == "code")]  # the setup cell
    sly.cells += [nbformat.v4.new_code_cell(SLY), nbformat.v4.new_code_cell("text = open(ex.__file__).read()")]
    (tmp_path / "sly.ipynb").write_text(nbformat.writes(sly))
    grades = grade_submissions(
        [tmp_path], sheet="walk05", sheets_folder=ROOT / "notebooks", jobs=2, timeout=300, cell_timeout=120
    )
    rows = grades.grades_frame().set_index("student")
    assert (rows.loc["key", "status"], rows.loc["key", "reason"]) == ("graded", ""), rows.loc["key"].to_dict()
    assert rows.loc["sly", "status"] == "check by hand", rows.loc["sly"].to_dict()
    reason = rows.loc["sly", "reason"]
    assert "reads the files of the checks" in reason and "code cell 3 raised Refused" in reason, reason
    assert "code cell 2" not in reason, reason  # the links are there, the scan refused and not counted

"""The tamper catalogue (issue 20): students who try to make the grader give points their answers do not earn.

Every notebook below is sheet 03 with three wrong answers (worth 0 points) and one tampering cell. Each of the
first 12 kinds scored points on the grader before the judge moved to a sealed interpreter of its own (seen
with the old grader: 1 or 3 points out of 3, status "graded", nothing in its reason); now each earns what its
answers earn (0) and, where the notebook changed or reached for what the checks rely on, the row is "check by
hand" with the reason (an answer that reads the check's frames while judged is refused them). The last three
never fooled the old grader; they stay in the catalogue.
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
MARKER = '("@@ella" + "-lab-grade@@")'  # the old grader's verdict marker, built at run time

STDOUT_REWRITER = f"""import sys
class _Rewriter:
    def __init__(self, inner):
        self.inner = inner
    def write(self, text):
        if {MARKER} in text:
            text = text.replace('"incorrect"', '"correct"')
        return self.inner.write(text)
    def flush(self):
        return self.inner.flush()
    def __getattr__(self, name):
        return getattr(self.inner, name)
sys.stdout = _Rewriter(sys.stdout)
"""
STREAM_CLASS = f"""import sys
_Stream = type(sys.stdout)
_write = _Stream.write
def _forged(self, text):
    if {MARKER} in text:
        text = text.replace('"incorrect"', '"correct"')
    return _write(self, text)
_Stream.write = _forged
"""
PATCH_CORE = "module.Question.hidden_check = lambda self, answer: module.CheckResult(self.name, 'correct', 'ok')"
META_PATH = f"""import sys, importlib.abc, importlib.machinery
class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "ella_lab.exercises._core":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        real = spec.loader
        class _Loader(importlib.abc.Loader):
            def create_module(self, spec):
                return None
            def exec_module(self, module):
                real.exec_module(module)
                {PATCH_CORE}
        spec.loader = _Loader()
        return spec
sys.meta_path.insert(0, _Finder())
"""
PATH_HOOKS = f"""import sys, importlib.machinery
_real_hook = importlib.machinery.FileFinder.path_hook(
    (importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES)
)
class _Loader(importlib.machinery.SourceFileLoader):
    def exec_module(self, module):
        super().exec_module(module)
        {PATCH_CORE}
class _Finder:
    def __init__(self, path):
        self.inner = _real_hook(path)
    def find_spec(self, name, target=None):
        spec = self.inner.find_spec(name, target)
        if spec is not None and name == "ella_lab.exercises._core":
            spec.loader = _Loader(name, spec.origin)
        return spec
    def invalidate_caches(self):
        pass
def _hook(path):
    if not path.rstrip("/").endswith("exercises"):
        raise ImportError
    return _Finder(path)
sys.path_hooks.insert(0, _hook)
sys.path_importer_cache.clear()
"""
IMPORT_HOOK = """import builtins, json as _json, types
_real_import = builtins.__import__
_fake = types.ModuleType("json")
_fake.__dict__.update(vars(_json))
_fake.dumps = lambda obj, *a, **k: _json.dumps(obj, *a, **k).replace('"incorrect"', '"correct"')
def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if name == "json" and (globals or {}).get("__name__") == "_ella_lab_judge":
        return _fake
    return _real_import(name, globals, locals, fromlist, level)
builtins.__import__ = _import
"""
MATH_AND_RECORD = """import math, sys
math.isclose = lambda *args, **kwargs: True
_guard = sys.modules.get("ella_lab.grading" + ".judge")
if _guard is not None and hasattr(_guard, "keep_snapshot"):
    _guard.keep_snapshot()
"""
JSON_INTERNALS = """import json.encoder
_real = json.encoder.encode_basestring_ascii
json.encoder.encode_basestring_ascii = lambda s: _real("correct" if s == "incorrect" else s)
"""
MODULES_SWAP = """import math, sys, types
math.isclose = lambda *args, **kwargs: True
_name = "ella_lab.grading" + ".judge"
_real = sys.modules.get(_name)
if _real is not None and hasattr(_real, "snapshot"):
    sys.modules[_name] = types.SimpleNamespace(_SNAPSHOT=_real.snapshot())
"""
FLOAT_FROM_FRAMES = """import sys
class _Exact(float):
    def __float__(self):
        frame = sys._getframe(1)
        while frame is not None:
            if "expected" in frame.f_locals:
                return float(frame.f_locals["expected"])
            frame = frame.f_back
        return 0.0
def makespan(n_requests, workers, latency):
    return _Exact(0.0)
"""
GC_RECORD = """import gc, math
math.isclose = lambda *args, **kwargs: True
for _obj in gc.get_objects():
    if isinstance(_obj, dict) and "sys.modules['math']" in _obj and "math" in _obj:
        _obj["math"] = {k: v for k, v in vars(math).items() if not k.startswith("_")}
"""
PACKAGE_PATH = """import os, shutil, tempfile, ella_lab, ella_lab.exercises
_fake = tempfile.mkdtemp()
shutil.copytree(os.path.dirname(ella_lab.exercises.__file__), os.path.join(_fake, "exercises"))
with open(os.path.join(_fake, "exercises", "_core.py"), "a") as f:
    f.write("\\nQuestion.hidden_check = lambda self, answer: CheckResult(self.name, 'correct', 'ok')\\n")
ella_lab.__path__.insert(0, _fake)
"""
SETTRACE = """import sys, threading
def _local(frame, event, arg):
    if event == "return" and isinstance(frame.f_locals.get("record"), dict):
        frame.f_locals["record"]["status"] = "correct"
    return _local
def _tracer(frame, event, arg):
    return _local if frame.f_code.co_name in ("_judge_one", "verdict_record") else None
sys.settrace(_tracer)
threading.settrace(_tracer)
"""
IMPORTLIB_INTERNALS = f"""import importlib, importlib._bootstrap as _bootstrap
_real = _bootstrap._gcd_import
def _gcd_import(name, package=None, level=0):
    module = _real(name, package, level)
    if name == "ella_lab.exercises._core":
        {PATCH_CORE}
    return module
_bootstrap._gcd_import = _gcd_import
"""
VERDICT_TEXT = f"""import json, os
line = {MARKER} + json.dumps({{"questions": [{{"question": q, "status": "correct"}} for q in ("q1", "q2", "q3")]}})
print(line)
os.write(1, (line + "\\n").encode())
"""
ATTEMPT_RECORD = """from IPython.display import display
for q in ("q1", "q2", "q3"):
    record = {"sheet": "phase3", "question": q, "action": "check", "verdict": "correct", "checks": 1, "hints": 0}
    display({"text/plain": f"{q} ✓ Correct", "application/vnd.ella-lab.attempt+json": record}, raw=True)
"""

# kind: (cell, the answer it follows, the old grader's score for it (out of 3, all "graded"; the answers earn 0),
#        what the sealed judge says: "check by hand" or "graded")
CATALOGUE = {
    "stdout-rewriter": (STDOUT_REWRITER, "worker", 3, "check by hand"),
    "meta-path-hook": (META_PATH, "worker", 3, "check by hand"),
    "path-hooks": (PATH_HOOKS, "worker", 3, "check by hand"),
    "builtins-import-hook": (IMPORT_HOOK, "worker", 3, "check by hand"),
    "math-and-guard-record": (MATH_AND_RECORD, "worker", 1, "check by hand"),
    "json-internals": (JSON_INTERNALS, "worker", 3, "check by hand"),
    "sys-modules-swap": (MODULES_SWAP, "worker", 1, "check by hand"),
    "float-lies-from-frames": (FLOAT_FROM_FRAMES, "makespan", 1, "check by hand"),
    "gc-rewrites-the-record": (GC_RECORD, "worker", 1, "check by hand"),
    "package-path-redirect": (PACKAGE_PATH, "worker", 3, "graded"),  # the checks are loaded already: no effect
    "settrace-rewrites-verdicts": (SETTRACE, "worker", 3, "check by hand"),
    "importlib-internals": (IMPORTLIB_INTERNALS, "worker", 3, "graded"),  # no import after the seal: no effect
    # these three did not fool the old grader either
    "stream-class-patch": (STREAM_CLASS, "worker", 0, "graded"),  # TextIOWrapper.write cannot be set: the cell fails
    "verdict-text-printed": (VERDICT_TEXT, "worker", 0, "graded"),
    "attempt-record-forged": (ATTEMPT_RECORD, "worker", 0, "graded"),
}


def build(folder: Path) -> None:
    """One notebook per kind in ``folder`` (also used to grade the catalogue with an older grader)."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind, (cell, after, _, _) in CATALOGUE.items():
        nb = demo.student_notebook(ALL_WRONG, [(after, cell)])
        (folder / f"{kind}-ex03.ipynb").write_text(nbformat.writes(nb))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tamper")
    build(folder)
    grades = grade_submissions([folder], sheet="phase3", jobs=2, timeout=90, cell_timeout=20, memory_mb=2048)
    return {row["student"]: row for row in grades.grades_frame().to_dict("records")}


def test_the_catalogue_has_twelve_kinds_that_fooled_the_old_grader():
    assert sum(1 for *_, old, _ in CATALOGUE.values() if old > 0) >= 12


@pytest.mark.timeout(400)
@pytest.mark.parametrize("kind", list(CATALOGUE))
def test_a_tampering_notebook_earns_only_what_its_answers_earn(graded, kind):
    row = graded[kind]
    expected = CATALOGUE[kind][3]
    assert row["score"] == 0 and row["max_score"] == 3, row
    assert row["status"] == expected, row
    if expected == "check by hand":
        assert "the notebook changed or reached for what the checks rely on" in row["reason"], row


@pytest.mark.timeout(400)
def test_every_instructor_sheet_earns_full_marks_and_nothing_is_suspected(tmp_path):
    """The seal puts back and reports what a notebook changes: the checks' own work (threads, event loops,
    subprocesses, sockets, temporary files) on the nine right answers must change nothing it watches."""
    for sheet in sorted((ROOT / "notebooks" / "exercises").glob("ex0*.ipynb")):
        (tmp_path / sheet.name).write_bytes(sheet.read_bytes())
    grades = grade_submissions([tmp_path], jobs=2, timeout=120, cell_timeout=60, memory_mb=2048)
    table = grades.grades_frame()
    assert len(table) == 9
    for row in table.to_dict("records"):
        assert (row["score"], row["max_score"], row["status"], row["reason"]) == (3, 3, "graded", ""), row

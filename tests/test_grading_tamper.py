"""The tamper catalogue (issue 20): students who try to make the grader give points their answers do not earn.

Every notebook below is sheet 03 with three wrong answers (worth 0 points) and one tampering cell. Each of the
first 12 kinds scored points on the grader before the judge moved to a sealed interpreter of its own (seen
with the old grader: 1 or 3 points out of 3, status "graded", nothing in its reason); now each earns what its
answers earn (0) and, where the notebook changed or reached for what the checks rely on, the row is "check by
hand" with the reason (an answer that reads the check's frames while judged is refused them). The next three
never fooled the old grader; they stay in the catalogue. The last nine came from a second attack, on the
sealed grader itself: each scored 1 or 3 unflagged there (a writer of the verdicts' channel taken from a
method swapped and put back; the hidden cases or the checks' source read; a solution executed; frames read
from code compiled from a string or under a library file's name; a check's helpers swapped by the answer
on its first call and put back on its last); now each is refused, or judged 0.
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

ALL_WRONG = {"makespan": demo.MAKESPAN_NLK, "get_once": demo.GET_ONCE_NO_LOCK, "workers_needed": demo.NEEDED_ROUND}
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
# Found by a second attack on the sealed grader (each scored so, unflagged, before its fix):
GRAB_WRITER = (  # Writer.send swapped for one that keeps the writer and puts itself back: the seal saw nothing
    """import ella_lab.grading.channel as _c
_orig = _c.Writer.send
_held = []
def _grab(self, kind, **data):
    _held.append(self)
    _c.Writer.send = _orig
    return _orig(self, kind, **data)
_c.Writer.send = _grab
""",
    """for _q in ("q1", "q2", "q3"):
    _held[0].send("verdict", cell=50, question=_q, points=1.0, status="correct", message="right", attempted=True)
""",
)
HIDDEN_TABLE = """_table = {case[:3]: case[3] for case in type(ex.q1).HIDDEN + type(ex.q1).CASES}
def makespan(n_requests, workers, latency):
    return _table[(n_requests, workers, latency)]
"""
HIDDEN_BY_INSPECT = """import inspect
_cases = dict(inspect.getmembers(type(ex.q1)))["HIDDEN"] + type(ex.q1).CASES
_table = {case[:3]: case[3] for case in _cases}
def makespan(n_requests, workers, latency):
    return _table[(n_requests, workers, latency)]
"""
SOURCE_READ = """import inspect, re
_text = inspect.getsource(type(ex.q1))
_cases = eval(re.search(r"HIDDEN = (\\(\\(.*?\\)\\))\\n", _text).group(1)) + type(ex.q1).CASES
_table = {case[:3]: case[3] for case in _cases}
def makespan(n_requests, workers, latency):
    return _table[(n_requests, workers, latency)]
"""
SOLUTION_EXEC = """import textwrap
for _q in (ex.q1, ex.q2, ex.q3):
    exec(textwrap.dedent(_q.solution_text))
"""
SOLUTION_PRINTED = """import contextlib, io
for _q in (ex.q1, ex.q2, ex.q3):
    _seen = io.StringIO()
    with contextlib.redirect_stdout(_seen):
        _q.solution()
    exec(_seen.getvalue().split("solution:", 1)[-1])
"""
_FRAMES = FLOAT_FROM_FRAMES.replace("import sys\n", "")
FRAMES_IN_EXEC = f"import sys\nexec({_FRAMES!r})\n"  # code from a string passed for the library's
FRAMES_UNDER_LIBRARY_NAME = f"""import sys, ella_lab.grading.judge as _j
exec(compile({_FRAMES!r}, _j.__file__, "exec"))
"""
HELPERS_SWAPPED_WHILE_CALLED = """import ella_lab.exercises.phase3 as _p
_visible = {case[:3]: case[3] for case in type(ex.q1).CASES}
_real = (_p.close_to, _p.check_number)
def makespan(n_requests, workers, latency):  # hidden cases first: helpers swapped; visible ones: put back, answered
    if (n_requests, workers, latency) in _visible:
        _p.close_to, _p.check_number = _real
        return _visible[(n_requests, workers, latency)]
    _p.close_to = lambda *args, **kwargs: True
    _p.check_number = lambda *args, **kwargs: None
    return 0.0
"""
ATTEMPT_RECORD = """from IPython.display import display
for q in ("q1", "q2", "q3"):
    record = {"sheet": "phase3", "question": q, "action": "check", "verdict": "correct", "checks": 1, "hints": 0}
    display({"text/plain": f"{q} ✓ Correct", "application/vnd.ella-lab.attempt+json": record}, raw=True)
"""

# kind: (cell, the answer it follows, the old grader's score for it (out of 3, all "graded"; the answers earn 0),
#        what the sealed judge says: "check by hand" or "graded")
CATALOGUE = {
    "stdout-rewriter": (STDOUT_REWRITER, "get_once", 3, "check by hand"),
    "meta-path-hook": (META_PATH, "get_once", 3, "check by hand"),
    "path-hooks": (PATH_HOOKS, "get_once", 3, "check by hand"),
    "builtins-import-hook": (IMPORT_HOOK, "get_once", 3, "check by hand"),
    "math-and-guard-record": (MATH_AND_RECORD, "get_once", 1, "check by hand"),
    "json-internals": (JSON_INTERNALS, "get_once", 3, "check by hand"),
    "sys-modules-swap": (MODULES_SWAP, "get_once", 1, "check by hand"),
    "float-lies-from-frames": (FLOAT_FROM_FRAMES, "makespan", 1, "check by hand"),
    "gc-rewrites-the-record": (GC_RECORD, "get_once", 1, "check by hand"),
    "package-path-redirect": (PACKAGE_PATH, "get_once", 3, "check by hand"),  # copying the checks' files reads them
    "settrace-rewrites-verdicts": (SETTRACE, "get_once", 3, "check by hand"),
    "importlib-internals": (IMPORTLIB_INTERNALS, "get_once", 3, "graded"),  # no import after the seal: no effect
    # these three did not fool the old grader either
    "stream-class-patch": (STREAM_CLASS, "get_once", 0, "graded"),  # TextIOWrapper.write cannot be set: the cell fails
    "verdict-text-printed": (VERDICT_TEXT, "get_once", 0, "graded"),
    "attempt-record-forged": (ATTEMPT_RECORD, "get_once", 0, "graded"),
    # the second attack: each scored so on the sealed grader before its fix (commit "Grader: ... second attack")
    "writer-grabbed-and-put-back": (GRAB_WRITER, "workers_needed", 3, "check by hand"),
    "hidden-cases-read": (HIDDEN_TABLE, "makespan", 1, "check by hand"),
    "hidden-cases-by-inspect": (HIDDEN_BY_INSPECT, "makespan", 1, "check by hand"),
    "checks-source-read": (SOURCE_READ, "makespan", 1, "check by hand"),
    "solution-text-executed": (SOLUTION_EXEC, "workers_needed", 3, "graded"),
    "solution-printed-and-executed": (SOLUTION_PRINTED, "workers_needed", 3, "graded"),
    "frames-in-exec-string": (FRAMES_IN_EXEC, "makespan", 1, "check by hand"),
    "frames-under-a-library-name": (FRAMES_UNDER_LIBRARY_NAME, "makespan", 1, "check by hand"),
    "helpers-swapped-while-called": (HELPERS_SWAPPED_WHILE_CALLED, "makespan", 1, "check by hand"),
}


def build(folder: Path) -> None:
    """One notebook per kind in ``folder`` (also used to grade the catalogue with an older grader)."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind, (cells, after, _, _) in CATALOGUE.items():
        cells = (cells,) if isinstance(cells, str) else cells
        nb = demo.student_notebook(ALL_WRONG, [(after, cell) for cell in reversed(cells)])  # each goes right after
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

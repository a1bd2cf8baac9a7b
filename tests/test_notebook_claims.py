"""No notebook holds a bare ``assert`` over a measured value: measured claims go through ``ella_lab.claims``.

A value is *measured* when it comes from a clock (``perf_counter()``, ``clock()``, ``time.time()``, ...), from a
field the library fills with a measurement (``wall_s``, ``throughput_rps``, ``efficiency``, ``started``, a
``"p99"`` column, ...), or from a name assigned from either, followed through the notebook in order. An
assert on such a value fails on a busy laptop without the lesson being wrong: it must be a ``Claim``. An
assert that only looks measured (a seeded simulation's ``p99``, a model's value) says so on its line with
``# exact: <why>``, where a reviewer can read it.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHECKED = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")) + sorted((NOTEBOOKS / "exercises").glob("ex[0-9][0-9]-*.ipynb"))

CLOCKS = {
    "perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "time", "time_ns", "process_time",
    "process_time_ns", "thread_time", "thread_time_ns", "clock", "now",
}  # fmt: skip
MEASURED_ATTRS = {
    "started", "finished", "elapsed", "duration", "efficiency", "latency", "speedup", "throughput",
    "calls_per_s", "refused_s", "trip", "recover",
}  # fmt: skip
MEASURED_ATTR = re.compile(r"(?:_s|_ms|_us|_rps|_at|_time|_pause)$")
MEASURED_KEY = re.compile(
    r"(?:^p\d{2}\b|\bp\d{2}$|wall|throughput|latency|efficiency|speed-?up|elapsed|pause|cores used|req/s|"
    r"\bmeasured\b|_s$|_rps$|\bmean\b|\bmedian\b|\bwait\b|\btime\b)",
    re.IGNORECASE,
)
MEASURED_NAME = re.compile(r"(?:^measured|elapsed|^took|^wall|latenc|throughput|duration|_s$|_ms$|_rps$)")
EXACT = re.compile(r"#\s*exact\b")


@dataclass(frozen=True)
class Bare:
    """A bare assert over a measured value: where it is, and why it counts as measured."""

    cell: int
    line: int
    text: str
    because: str


def _code(source: str) -> str:
    """The cell as Python: IPython magics and shell escapes become comments (line numbers kept)."""
    return "\n".join("#" + line if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _called_name(node: ast.Call) -> str | None:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _keys(node: ast.Subscript) -> list[str]:
    """The string keys of a subscript: ``df["p99"]``, ``t.loc["breaker", "p50 latency"]``."""
    parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    return [p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str)]


def measured_reason(node: ast.AST, tainted: set[str]) -> str | None:
    """Why the expression ``node`` depends on a measurement, or None."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and _called_name(sub) in CLOCKS:
            return f"reads a clock ({_called_name(sub)}())"
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in tainted:
            return f"calls {sub.func.id}(), which reads a clock"  # a function of the notebook's, not board.run()
        if isinstance(sub, ast.Attribute) and (sub.attr in MEASURED_ATTRS or MEASURED_ATTR.search(sub.attr)):
            return f"uses the measured field .{sub.attr}"
        if isinstance(sub, ast.Subscript):
            for key in _keys(sub):
                if MEASURED_KEY.search(key):
                    return f"uses the measured column {key!r}"
        if isinstance(sub, ast.Name) and sub.id in tainted:
            return f"uses {sub.id}, assigned from a measurement"
        if isinstance(sub, ast.Name) and MEASURED_NAME.search(sub.id):
            return f"uses {sub.id}, named as a measurement"
    return None


def _targets(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _reads_clock(node: ast.AST) -> bool:
    return any(isinstance(s, ast.Call) and _called_name(s) in CLOCKS for s in ast.walk(node))


class _Flow:
    """Walks a notebook's statements in order, keeping the names that hold a measurement at each point.

    An assignment from a measurement marks its targets; an assignment from anything else clears them (a
    name reused for an exact value is exact again). A function that reads a clock marks its name.
    """

    def __init__(self) -> None:
        self.tainted: set[str] = set()
        self.found: list[tuple[ast.Assert, str]] = []

    def assign(self, names: set[str], value: ast.AST, *, may_keep: bool = False) -> None:
        if measured_reason(value, self.tainted):
            self.tainted |= names
        elif not may_keep:
            self.tainted -= names

    def visit(self, stmts: list[ast.stmt]) -> None:
        for node in stmts:
            self.statement(node)

    def comprehensions(self, node: ast.AST) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.comprehension):
                self.assign(_targets(sub.target), sub.iter, may_keep=True)
            elif isinstance(sub, ast.NamedExpr):
                self.assign(_targets(sub.target), sub.value, may_keep=True)

    def statement(self, node: ast.stmt) -> None:
        self.comprehensions(node)
        if isinstance(node, ast.Assert):
            because = measured_reason(node.test, self.tainted)
            if because:
                self.found.append((node, because))
        elif isinstance(node, ast.Assign):
            self.assign(set().union(*map(_targets, node.targets)), node.value)
        elif isinstance(node, ast.AugAssign):
            self.assign(_targets(node.target), node.value, may_keep=True)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            self.assign(_targets(node.target), node.value)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if _reads_clock(node):
                self.tainted.add(node.name)
            else:
                self.tainted.discard(node.name)
            self.visit(node.body)  # asserts inside a function count too
        elif isinstance(node, ast.For | ast.AsyncFor):
            self.assign(_targets(node.target), node.iter, may_keep=True)
            self.visit(node.body)
            self.visit(node.orelse)
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if item.optional_vars is not None:
                    self.assign(_targets(item.optional_vars), item.context_expr)
            self.visit(node.body)
        elif isinstance(node, ast.If | ast.While):
            self.visit(node.body)
            self.visit(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                self.visit(block)
        elif isinstance(node, ast.ClassDef):
            self.visit(node.body)


def bare_measured_asserts(cells: list[str]) -> list[Bare]:
    """Every assert in these code cells (a notebook, in order) that depends on a measurement without a claim."""
    flow = _Flow()
    found = []
    for index, source in enumerate(cells):
        code = _code(source)
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        flow.found = []
        flow.visit(tree.body)
        lines = code.splitlines()
        for node, because in flow.found:
            text = "\n".join(lines[node.lineno - 1 : node.end_lineno])
            if not EXACT.search(text):
                found.append(Bare(index, node.lineno, text.strip(), because))
    return found


def notebook_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


# The detector itself: each of these must be caught (the test can fail), and none of the exact ones.
CAUGHT = {
    "a clock read in the assert": ["import time\nassert time.perf_counter() > 0"],
    "a name assigned from a clock": ["t0 = perf_counter()\nx = 1", "took = perf_counter() - t0", "assert took < 0.5"],
    "a measured field": ["assert report.wall_s < 1.5 * 4 * L"],
    "a measured column": ['assert df["p99"].max() < 0.1'],
    "a measured column in .loc": ['assert outage.loc["breaker", "p50 latency in outage"] < 0.006'],
    "a name from a measured field": ["eff = df.efficiency", "assert (eff > 0.3).all()"],
    "a loop over measurements": ["walls = [r.wall_s for r in runs]", "for w in walls:\n    assert w < 1"],
    "a function that reads the clock": [
        "def timed(f):\n    t = clock()\n    f()\n    return clock() - t",
        "assert timed(g) < 1",
    ],
    "unpacked from a measurement": ["a, b = r.started, r.finished_at", "assert b - a > 0"],
    "a name that says it is measured": ["assert 0.7 * ideal < measured"],
    "a walrus": ["assert (d := r.wall_s) < 1"],
    "inside a function": ["def judge(r):\n    assert r.wall_s < 1"],
    "augmented from a clock": ["total = 0", "total += perf_counter()", "assert total > 0"],
}
EXACT_ASSERTS = {
    "a count": ["assert len(report) == 10"],
    "an order": ["assert [o.request for o in report] == request_ids(10)"],
    "a model's value": ["model = 4 * LATENCY", "assert model == 0.2"],
    "marked exact": ['assert sim["p99"] == 0.25  # exact: seeded simulation'],
    "marked exact over lines": ['assert (\n    sim["p99"] == 0.25\n)  # exact: seeded simulation'],
    "a claim is no assert": ['check(Claim("fast", r.wall_s, high=1))'],
    "a magic line": ["%timeit f()\nassert ok"],
    "a name reused for an exact value": ["x = r.wall_s", "x = len(report)", "assert x == 10"],
    "a key that is no column": ['assert "took 5 ms" in text'],
    "a method named like a measured name": ["run = r.wall_s", "assert board.run() == 3"],
}


@pytest.mark.parametrize("cells", CAUGHT.values(), ids=CAUGHT.keys())
def test_the_detector_catches_a_bare_assert_on_a_measurement(cells):
    found = bare_measured_asserts(cells)
    assert len(found) == 1, found


@pytest.mark.parametrize("cells", EXACT_ASSERTS.values(), ids=EXACT_ASSERTS.keys())
def test_the_detector_leaves_exact_asserts_alone(cells):
    assert bare_measured_asserts(cells) == []


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.stem)
def test_no_bare_assert_on_a_measured_value(path):
    found = bare_measured_asserts(notebook_cells(path))
    assert not found, "measured values asserted without ella_lab.claims (or mark `# exact: why`):\n" + "\n".join(
        f"  cell {b.cell} line {b.line}: {b.text[:120]}  [{b.because}]" for b in found
    )

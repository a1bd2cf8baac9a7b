"""Every committed notebook: valid, executed top to bottom, navigable, error-free, and its claims asserted."""

import ast
import json
import re
import textwrap
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
WALKTHROUGH = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
EXECUTED = sorted(
    p for p in NOTEBOOKS.rglob("*.ipynb") if "student" not in p.parts and ".ipynb_checkpoints" not in p.parts
)
LINK = re.compile(r"\]\(([^)#]+\.ipynb)\)")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[^\s`]*)[^\n]*$")
PYTHON_TAGS = {"python", "python3", "py", "ipython", "ipython3", "pycon"}
GUIDE_QUOTE = "<!-- guide-quote -->"


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_the_walkthrough_is_complete():
    stems = [p.stem for p in WALKTHROUGH]
    assert stems == [
        "00-index",
        "01-mission",
        "02-environment",
        "03-threaded-router",
        "04-fallback-recovery",
        "05-integration-and-testing",
        "06-optimization",
        "07-resilience-patterns",
        "08-beyond-threads",
        "09-real-io",
        "10-overload-and-metastable-failures",
    ]


@pytest.mark.parametrize("path", EXECUTED, ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_executed_in_order_without_errors(path):
    cells = code_cells(load(path))
    assert cells, "a notebook with no code"
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), f"not run top to bottom in one kernel: {counts}"
    for cell in cells:
        assert not [o for o in cell["outputs"] if o["output_type"] == "error"], "".join(cell["source"])[:80]


@pytest.mark.parametrize("path", WALKTHROUGH, ids=lambda p: p.stem)
def test_navigation_links_top_and_bottom(path):
    cells = load(path)["cells"]
    index = WALKTHROUGH.index(path)
    for cell in (cells[0], cells[-1]):
        text = "".join(cell["source"])
        targets = LINK.findall(text)
        assert "00-index.ipynb" in targets, "no link to the contents"
        if index > 0:
            assert WALKTHROUGH[index - 1].name in targets, "no link to the previous notebook"
        if index + 1 < len(WALKTHROUGH):
            assert WALKTHROUGH[index + 1].name in targets, "no link to the next notebook"


@pytest.mark.parametrize("path", EXECUTED, ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_every_link_resolves(path):
    for cell in load(path)["cells"]:
        for target in LINK.findall("".join(cell["source"])):
            assert (path.parent / target).exists(), f"broken link {target}"


@pytest.mark.parametrize("path", WALKTHROUGH[1:], ids=lambda p: p.stem)
def test_claims_are_asserted_and_shown(path):
    nb = load(path)
    sources = ["".join(c["source"]) for c in code_cells(nb)]
    # a cell that checks a claim: an exact one (assert) or a measured one (ella_lab.claims' measure/check, or a
    # study run with checked=True, which measures its claims and measures again on a miss)
    checking = re.compile(r"^(?:assert\b|[\w, ]+= measure\(|measure\(|check\()|\bchecked=True\b", re.MULTILINE)
    asserting = sum(bool(checking.search(s)) for s in sources)
    assert asserting >= (1 if path.stem == "02-environment" else 3)  # 02 is a setup notebook, not an experiment
    outputs = [o for c in code_cells(nb) for o in c["outputs"]]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure"
    assert any("text/html" in o.get("data", {}) for o in outputs), "no table"
    first = "".join(nb["cells"][1]["source"]) + "".join(nb["cells"][2]["source"])
    assert "Learning goals" in first or "goals" in first.lower()
    assert "## Summary" in "".join("".join(c["source"]) for c in nb["cells"][-3:])


@pytest.mark.parametrize("path", WALKTHROUGH, ids=lambda p: p.stem)
def test_first_code_cell_is_self_contained_setup(path):
    first = "".join(code_cells(load(path))[0]["source"])
    assert "import" in first


def test_ignored_outputs_are_few():
    # Cells whose output varies by design carry the tag nbval-ignore-output (or the old NBVAL_IGNORE_OUTPUT
    # comment); they must stay the exception.
    for path in WALKTHROUGH:
        cells = code_cells(load(path))
        ignored = [
            c
            for c in cells
            if "NBVAL_IGNORE_OUTPUT" in "".join(c["source"]) or "nbval-ignore-output" in c["metadata"].get("tags", [])
        ]
        assert len(ignored) <= len(cells) // 3, path.name


def fenced_blocks(markdown: str) -> list[tuple[str, str, str]]:
    """Every fenced code block in ``markdown``: (language tag, code dedented, the line just above the fence)."""
    blocks: list[tuple[str, str, str]] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, body, j = opening["fence"], [], i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence) and not lines[j].strip().strip(fence[0])):
            body.append(lines[j])
            j += 1
        above = next((line.strip() for line in reversed(lines[:i]) if line.strip()), "")
        blocks.append((opening["lang"].lower(), textwrap.dedent("\n".join(body)).strip("\n"), above))
        i = j + 1
    return blocks


def is_python(lang: str, code: str) -> bool:
    """A block tagged Python, or an untagged one that parses as Python and does more than name things
    (``make lab`` or ``python -m ella_lab demo`` are not Python; ``ls`` parses but is a shell word)."""
    if lang in PYTHON_TAGS:
        return True
    if lang or not code.strip():
        return False
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return not all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Name) for node in tree.body)


def squeeze(code: str) -> str:
    return " ".join(code.split())


def names_in(code: str) -> set[str]:
    """The names a snippet defines or calls (``def f``, ``f(...)``, ``x.f(...)``)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set(re.findall(r"\b([A-Za-z_]\w*)\s*\(", code))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Call):
            func = node.func
            names.add(func.id if isinstance(func, ast.Name) else getattr(func, "attr", ""))
    return names - {"", "print", "range", "len", "str", "int", "float", "list", "dict", "set", "object"}


def guide_functions() -> set[str]:
    from ella_lab import guide

    return set(guide.__all__)


def unrun_snippets(nb: dict) -> list[str]:
    """Fenced Python blocks in markdown that no code cell runs, as "cell N: first line".

    A block passes when the next code cell holds the same code (whitespace aside), or when it is marked
    ``<!-- guide-quote -->`` (a quote of the guide's code) and the next code cell runs it: it calls a name
    the block defines or calls, or a function of ``ella_lab.guide`` (the guide's code, made measurable).
    """
    cells = nb["cells"]
    found = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        later_code = ("".join(c["source"]) for c in cells[index + 1 :] if c["cell_type"] == "code")
        following = next((source for source in later_code if source.strip()), "")
        for lang, code, above in fenced_blocks("".join(cell["source"])):
            if not is_python(lang, code):
                continue
            if squeeze(code) and squeeze(code) in squeeze(following):
                continue
            runs_it = names_in(following) & (names_in(code) | guide_functions())
            if above == GUIDE_QUOTE and runs_it:
                continue
            first = next((line.strip() for line in code.splitlines() if line.strip()), "")
            found.append(f"cell {index}: {first}")
    return found


def test_the_snippet_check_tells_run_from_unrun():
    def nb(*cells):
        return {"cells": [{"cell_type": kind, "source": source} for kind, source in cells]}

    quoted = "```python\nx = compute(1)\n```"
    assert unrun_snippets(nb(("markdown", quoted), ("code", "x  =  compute(1)\nassert x"))) == []
    assert unrun_snippets(nb(("markdown", quoted), ("code", "y = other()"))) == ["cell 0: x = compute(1)"]
    assert unrun_snippets(nb(("markdown", quoted))) == ["cell 0: x = compute(1)"]
    guide = f"{GUIDE_QUOTE}\n```python\ndef worker():\n    pass\n```"
    assert unrun_snippets(nb(("markdown", guide), ("code", "worker()"))) == []
    assert unrun_snippets(nb(("markdown", guide), ("code", "run_guide_router(3, 10)"))) == []
    assert unrun_snippets(nb(("markdown", guide), ("code", "print(1)"))) == ["cell 0: def worker():"]
    assert unrun_snippets(nb(("markdown", "```py\nimport os\n```"))) == ["cell 0: import os"]
    assert unrun_snippets(nb(("markdown", "  ```\n  total = sum(xs)\n  ```"))) == ["cell 0: total = sum(xs)"]
    assert unrun_snippets(nb(("markdown", "```bash\nmake lab\n```\n```\nmake test\n```\n```\nls\n```"))) == []


@pytest.mark.parametrize("path", EXECUTED, ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_every_python_snippet_in_markdown_runs(path):
    """A learner copies what a notebook shows: every Python snippet in its prose is code a cell runs."""
    unrun = unrun_snippets(load(path))
    assert not unrun, f"{path.name}: fenced Python in markdown that no code cell runs: " + "; ".join(unrun)


@pytest.mark.parametrize("path", EXECUTED, ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_widgets_render_before_the_first_run(path):
    """JupyterLab draws a widget output from the state saved in the notebook (ella_lab.tools.execute keeps
    it); without the state, a learner sees ``interactive(children=(IntSlider(...`` until the cell runs."""
    nb = load(path)
    saved = nb["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for index, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            if view:
                assert "text/plain" in output["data"], f"cell {index}: a widget output with no text fallback"
                assert view["model_id"] in saved, f"cell {index}: widget state not saved (make notebooks)"

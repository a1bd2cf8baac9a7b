"""The hand-out (issue 20, item 4): what students receive holds no solution and no hidden case, and its sheets run."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ella_lab.exercises import _core
from ella_lab.tools.handout import SOLUTIONS_FILE, build, solutions

ROOT = Path(__file__).resolve().parents[1]
SHEETS = sorted(p.stem for p in (ROOT / "ella_lab" / "exercises").glob("*.py") if not p.stem.startswith("_"))


@pytest.fixture(scope="module")
def handout(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("handout") / "class"
    broken = build(out)
    assert broken == [], broken  # every link of a notebook leads to a file of the hand-out
    return out


def _texts(folder: Path) -> dict[Path, str]:
    """Every file's text, each line stripped (a notebook: its cells' sources and outputs, as they read)."""
    texts = {}
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".ipynb":
            nb = json.loads(text)
            text = "\n".join(
                "".join(part if isinstance(part, str) else json.dumps(part) for part in _pieces(cell))
                for cell in nb["cells"]
            )
        texts[path] = "\n".join(line.strip() for line in text.splitlines())
    return texts


def _pieces(cell: dict) -> list:
    source = cell.get("source", "")
    pieces = [source if isinstance(source, str) else "".join(source)]
    for output in cell.get("outputs", []):
        text = output.get("text", "")
        pieces.append("\n" + (text if isinstance(text, str) else "".join(text)))
        pieces.append("\n" + json.dumps(output.get("data", {})))
    return pieces


def test_no_solution_text_nor_hidden_case_is_in_the_handout(handout):
    texts = _texts(handout)
    secrets: list[tuple[str, str]] = []
    for sheet in SHEETS:
        module = importlib.import_module(f"ella_lab.exercises.{sheet}")
        for name, value in vars(module).items():
            if name.lstrip("_").startswith("HIDDEN"):
                secrets.append((f"{sheet}.{name}", repr(value)))
        for name, question in vars(module).items():
            if not isinstance(question, _core.Question):
                continue
            lines = [line.strip() for line in question.solution_text.splitlines() if line.strip()]
            # the whole text (lines of it may be in the walkthrough, which teaches the pattern a sheet asks for)
            whole = "\n".join(lines)
            if len(whole) >= 20:
                secrets.append((f"{sheet}.{name}.solution_text", whole))
            for cls in type(question).__mro__:
                for attribute, value in vars(cls).items():
                    if attribute.lstrip("_").startswith("HIDDEN"):
                        secrets.append((f"{sheet}.{name}.{attribute}", repr(value)))
    assert len(secrets) > 40  # the catalogue of what must not be there is not empty
    for what, text in secrets:
        found = [str(path.relative_to(handout)) for path, content in texts.items() if text in content]
        assert not found, f"{what} is in the hand-out: {found}"
    for path, content in texts.items():
        if "grading" not in path.parts:  # the grader names what it looks for in a notebook: the markers, HIDDEN
            assert "HIDDEN" not in content and "BEGIN SOLUTION" not in content, path
    assert not (handout / "package" / "ella_lab" / "tools" / "student.py").exists()
    assert not list(handout.rglob("exercises/student"))  # the student sheets are the sheets


def test_the_handout_sets_a_student_up_in_two_commands(handout):
    readme = (handout / "README.md").read_text()
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(block) == 2 and "pip install -r requirements.txt" in block[0] and "jupyter lab" in block[1]
    assert "./package" in (handout / "requirements.txt").read_text().splitlines()
    project = tomllib.loads((handout / "package" / "pyproject.toml").read_text())
    assert project["project"]["name"] == "ella-lab" and "tool" in project  # the package's metadata, installable
    done = subprocess.run(
        [sys.executable, "-m", "ella_lab", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(handout / "package")},
        cwd=handout,
    )
    assert done.returncode == 0, done.stderr[-2000:]  # the command line works from the hand-out's package
    for notebook in sorted((handout / "notebooks").rglob("*.ipynb")):
        text = notebook.read_text()
        assert "exercises/student" not in text and "exercises/README.md" not in text, notebook


RUN_SHEETS = """
import json, pathlib, sys
import nbformat
from nbclient import NotebookClient
found = {}
for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True)
    client.execute(cwd=str(pathlib.Path(path).parent))
    records, errors = [], []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                errors.append(output.get("ename"))
            record = output.get("data", {}).get("application/vnd.ella-lab.attempt+json")
            if record:
                records.append([record.get("question"), record.get("verdict")])
    found[path] = {"records": records, "errors": errors, "module": __import__("ella_lab").__file__}
print(json.dumps(found))
"""


@pytest.mark.timeout(600)
def test_the_handout_sheets_run_and_every_check_says_not_attempted(handout):
    sheets = sorted(str(p) for p in (handout / "notebooks" / "exercises").glob("ex*.ipynb"))
    env = {**os.environ, "PYTHONPATH": str(handout / "package"), "ELLA_LAB_CLAIMS": ""}
    done = subprocess.run(
        [sys.executable, "-c", RUN_SHEETS, *sheets], capture_output=True, text=True, timeout=580, env=env, cwd=handout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(found) == 9
    for path, seen in found.items():
        assert seen["module"].startswith(str(handout / "package")), seen["module"]  # the hand-out's package ran
        assert seen["errors"] == [], (path, seen["errors"])
        assert seen["records"] and all(verdict == "not attempted" for _, verdict in seen["records"]), (path, seen)


SOLUTION = """
from ella_lab.exercises import phase3 as ex
ex.q1.solution()
"""


@pytest.mark.timeout(120)
def test_solution_says_the_teacher_releases_it_then_shows_the_released_text(handout, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(handout / "package")}
    where = handout / "notebooks" / "exercises"

    def ask() -> str:
        done = subprocess.run(
            [sys.executable, "-c", SOLUTION], capture_output=True, text=True, timeout=60, env=env, cwd=where
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    assert "the solutions are not released yet" in ask()
    released = solutions()
    assert set(released) >= {"phase3", "walk04"} and released["phase3"]["q1"].strip()
    (handout / SOLUTIONS_FILE).write_text(json.dumps(released))
    try:
        shown = ask()
    finally:
        (handout / SOLUTIONS_FILE).unlink()
    assert released["phase3"]["q1"].strip().splitlines()[0] in shown, shown


def test_the_teachers_install_keeps_every_solution_and_hidden_case():
    from ella_lab.exercises import phase3

    assert phase3.q1.solution_text.strip() and type(phase3.q1).HIDDEN


def test_every_file_a_walkthrough_cell_opens_is_in_the_handout(handout):
    """Notebook 05 runs ../examples/main.py as a script: the hand-out has it, beside the notebooks."""
    for path in sorted((handout / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        sources = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for parts in re.findall(r'Path\(((?:"[^"]+",\s*)+"[^"]+")\)', sources):
            target = (path.parent / Path(*re.findall(r'"([^"]+)"', parts))).resolve()
            if target.suffix:  # a file the notebook reads or runs
                assert target.exists(), f"{path.name} opens {target}, not in the hand-out"


# import name -> the requirement that brings it (the rest are named as they are installed)
PROVIDED_BY = {"IPython": "ipykernel", "mpl_toolkits": "matplotlib", "dateutil": "pandas"}


def test_every_package_a_walkthrough_notebook_imports_is_in_the_handouts_requirements(handout):
    """Notebook 05 imports hypothesis; the hand-out's requirements once left it out, so its Run All stopped there."""
    import ast

    wanted = {re.split(r"[<>=!~ ]", line)[0].lower() for line in (handout / "requirements.txt").read_text().splitlines()
              if line and not line.startswith(("#", "."))}  # fmt: skip
    for path in sorted((handout / "notebooks").rglob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        for cell in (c for c in cells if c["cell_type"] == "code"):
            source = "\n".join(line for line in "".join(cell["source"]).splitlines() if not line.startswith(("%", "!")))
            for node in ast.walk(ast.parse(source)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top == "ella_lab":
                        continue
                    need = PROVIDED_BY.get(top, top).lower()
                    assert need in wanted, f"{path.name} imports {name}; the hand-out's requirements.txt lacks {need}"


@pytest.mark.timeout(300)
def test_the_handouts_notebook_02_runs_all_without_an_error(handout):
    """The hand-out has no Makefile: notebook 02 once read ../Makefile there, and its Run All stopped."""
    notebook = handout / "notebooks" / "02-environment.ipynb"
    env = {**os.environ, "PYTHONPATH": str(handout / "package"), "ELLA_LAB_CLAIMS": ""}
    done = subprocess.run(
        [sys.executable, "-c", RUN_SHEETS, str(notebook)], capture_output=True, text=True, timeout=280, env=env,
        cwd=handout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])[str(notebook)]
    assert seen["module"].startswith(str(handout / "package")), seen["module"]  # the hand-out's package ran
    assert seen["errors"] == [], seen["errors"]


def test_the_handouts_setup_trusts_and_registers_the_kernel_and_02_shows_no_makefile_lines(handout):
    """The hand-out's first command trusts the notebooks and registers .venv's kernel as make lab does; notebook 02's
    cell that prints the repository's Makefile lines carries no saved output there (the hand-out has no Makefile),
    and its conda command names the hand-out's one sheet folder once."""
    readme = (handout / "README.md").read_text()
    first = readme.split("```bash\n", 1)[1].splitlines()[0]
    assert "jupyter trust notebooks/*.ipynb notebooks/exercises/*.ipynb" in first
    assert "ipykernel install --sys-prefix --name python3" in first
    nb = json.loads((handout / "notebooks" / "02-environment.ipynb").read_text())
    steps = [c for c in nb["cells"] if c["cell_type"] == "code" and "setup_steps(" in "".join(c["source"])]
    assert steps and all(not c["outputs"] for c in steps)
    text = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "notebooks/exercises/*.ipynb notebooks/exercises/*.ipynb" not in text

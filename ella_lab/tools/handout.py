"""Build what students receive: the walkthrough, the student sheets, and a package without the answers.

    python -m ella_lab.tools.handout --out handout            # (also: make handout; python -m ella_lab handout)
    python -m ella_lab.tools.handout --solutions solutions.json   # the file to hand out after the exercise

The hand-out is a folder: ``README.md`` (two commands set a student up), ``requirements.txt``,
``notebooks/`` (the walkthrough, in student form, and the student copies of the sheets under
``notebooks/exercises/``) and ``package/``: ``ella_lab`` with every ``solution_text`` emptied, every
hidden case (an attribute or a module constant named ``HIDDEN...`` or ``_HIDDEN...``) removed and every
``_check_hidden`` made the visible check. There, ``q.solution()`` says that the teacher releases the
solutions, and shows them once the teacher has handed out the solutions file (``ella-lab-solutions.json``,
put in the hand-out's folder). The teacher's own install keeps everything, and the grader always judges
with the full checks.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import logging
import re
import shutil
import sys
from pathlib import Path

__all__ = ["SOLUTIONS_FILE", "build", "solutions", "strip_source"]

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ella_lab"
SOLUTIONS_FILE = "ella-lab-solutions.json"
# The student-copy and key maker stays out (it is the teacher's, and handles the solution markers); the grader
# stays in (the command line imports it; it holds no answer: it judges with the checks, here the stripped ones).
LEFT_OUT = ("handout.py", "student.py", "__pycache__", "*.pyc", "*.egg-info")
REQUIREMENTS = """# What the notebooks need; the package is the folder beside this file.
./package
jupyterlab>=4.2,<5
ipykernel>=6.29,<8
ipywidgets>=8.1,<9
matplotlib>=3.8,<4
numpy>=1.26,<3
pandas>=2.2,<4
tqdm>=4.66,<5
hypothesis>=6.100,<7
dask>=2024.8,<2027
distributed>=2024.8,<2027
bokeh>=3.4,<4
psutil>=5.9,<8
"""
# The first of the hand-out's two commands: make .venv, install, trust the notebooks (their saved sliders show)
# and register .venv's kernel as python3 (an old python3 kernel of the user's cannot take the notebooks).
SETUP = " && ".join((
    "python3 -m venv .venv",
    ".venv/bin/python -m pip install -r requirements.txt",
    ".venv/bin/jupyter trust notebooks/*.ipynb notebooks/exercises/*.ipynb",
    '.venv/bin/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ella-lab)"',
))
README = """# ella-lab: the hand-out

The walkthrough (`notebooks/00-index.ipynb` first) and the exercise sheets (`notebooks/exercises/`).

## Set up (Python 3.11 or newer), two commands

```bash
{setup}
.venv/bin/jupyter lab notebooks/00-index.ipynb
```

(On Windows: `py -m venv .venv`, then `.venv\\Scripts\\python -m pip install -r requirements.txt`,
`.venv\\Scripts\\python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ella-lab)"` and
`.venv\\Scripts\\jupyter lab notebooks/00-index.ipynb`.) The second command is the one to run each time.

## The exercises

Each sheet checks your answers as you go: `ex.q1.check(answer)`, `ex.q1.hint()`. `ex.q1.solution()` shows
the reference answer once your teacher has released the solutions: they hand out a file
`{solutions}`; put it in this folder (beside this README).
Save your sheet as `<your id>-exNN.ipynb` and hand it in as your teacher says.
"""
HANDOUT_SOLUTION = '''

# -- added by the hand-out builder (ella_lab.tools.handout): the teacher releases the solutions ------------

SOLUTIONS_FILE = {file!r}


def _released_solution(question):
    """The solution text the teacher released for ``question`` (the solutions file), or None."""
    import json as _json
    import os as _os
    import pathlib as _pathlib

    places = [_os.environ.get("ELLA_LAB_SOLUTIONS")]
    here = _pathlib.Path.cwd()
    places += [str(folder / SOLUTIONS_FILE) for folder in [here, *here.parents][:4]]
    places.append(str(_pathlib.Path.home() / SOLUTIONS_FILE))
    for place in places:
        if not place or not _os.path.isfile(place):
            continue
        try:
            with open(place, encoding="utf-8") as stream:
                released = _json.load(stream)
            text = released.get(question.sheet, {{}}).get(question.name)
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(text, str):
            return text
    return None


_reference_solution = Question.solution


def _solution(self):
    """Show the reference answer once the teacher has released it (their solutions file)."""
    text = _released_solution(self)
    if text is None:
        print(
            f"{{self.name}}: the solutions are not released yet. Your teacher hands them out after the exercise "
            f"(a file {{SOLUTIONS_FILE}}: put it in the hand-out's folder, then call solution() again)."
        )
        return None
    self.solution_text = text
    return _reference_solution(self)


Question.solution = _solution
'''

log = logging.getLogger(__name__)


class _Strip(ast.NodeTransformer):
    """Empty every ``solution_text``, drop every ``HIDDEN...`` attribute, make ``_check_hidden`` the visible check."""

    def visit_Module(self, node: ast.Module) -> ast.Module:
        node.body = [self.visit(item) for item in node.body if not _hidden_name(_assigned(item))]
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        body = []
        for item in node.body:
            target = _assigned(item)
            if _hidden_name(target):
                continue
            if target == "solution_text":
                item = ast.Assign(targets=[ast.Name("solution_text", ast.Store())], value=ast.Constant(""))
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == "_check_hidden":
                answer = item.args.args[1].arg if len(item.args.args) > 1 else "answer"
                item.body = [ast.Return(_call_check(answer))]
            body.append(self.visit(item) if isinstance(item, ast.ClassDef) else item)
        node.body = body or [ast.Pass()]
        return node


def _hidden_name(name: str | None) -> bool:
    """``HIDDEN``, ``HIDDEN_CASES``, ``_HIDDEN``: the names the sheets give their hidden cases."""
    return bool(name) and name.lstrip("_").startswith("HIDDEN")


def _assigned(item: ast.stmt) -> str | None:
    if isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name):
        return item.targets[0].id
    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
        return item.target.id
    return None


def _call_check(answer: str) -> ast.expr:
    return ast.Call(
        func=ast.Attribute(value=ast.Name("self", ast.Load()), attr="_check", ctx=ast.Load()),
        args=[ast.Name(answer, ast.Load())],
        keywords=[],
    )


def strip_source(source: str) -> str:
    """A sheet module's source without its solutions and hidden cases."""
    tree = _Strip().visit(ast.parse(source))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def solutions() -> dict[str, dict[str, str]]:
    """Every question's solution text, by sheet module and question: the file the teacher releases."""
    from ..exercises import _core

    released: dict[str, dict[str, str]] = {}
    for path in sorted((PACKAGE / "exercises").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        module = importlib.import_module(f"ella_lab.exercises.{path.stem}")
        for name, question in vars(module).items():
            if isinstance(question, _core.Question) and question.solution_text:
                released.setdefault(path.stem, {})[name] = question.solution_text
    return released


def _package(out: Path) -> None:
    target = out / "package" / "ella_lab"
    shutil.copytree(
        PACKAGE,
        target,
        ignore=shutil.ignore_patterns(*LEFT_OUT),
    )
    for path in sorted((target / "exercises").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if path.name == "_core.py":
            text = strip_source(text) + HANDOUT_SOLUTION.format(file=SOLUTIONS_FILE)
        elif not path.stem.startswith("__"):
            text = strip_source(text)
        path.write_text(text, encoding="utf-8")
    project = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project = re.sub(r"\n\[tool\..*", "\n", project, flags=re.S)  # the package's metadata only
    project = project.replace('readme = "README.md"\n', "").replace('license-files = ["LICENSE"]\n', "")
    project += '\n[tool.setuptools.packages.find]\ninclude = ["ella_lab*"]\n'
    (out / "package" / "pyproject.toml").write_text(project, encoding="utf-8")


LINK = re.compile(r"\]\((?!https?:|#|mailto:)([^)\s]+)\)")


def _notebooks(out: Path) -> list[str]:
    """Copy the walkthrough and the student sheets; rewrite links to the student sheets; return broken links."""
    import nbformat

    folder = out / "notebooks"
    (folder / "exercises").mkdir(parents=True)
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        shutil.copyfile(path, folder / path.name)
    for path in sorted((ROOT / "notebooks" / "exercises" / "student").glob("ex*.ipynb")):
        shutil.copyfile(path, folder / "exercises" / path.name)
    broken = []
    for path in sorted(folder.rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        changed = False
        for cell in nb.cells:
            if cell.cell_type == "code" and "setup_steps(" in cell.source and cell.get("outputs"):
                cell.outputs, cell.execution_count = [], None  # the repository's Makefile lines: none in the hand-out
                changed = True
            if cell.cell_type != "markdown":
                continue
            # a command naming both sheet folders (jupyter trust ...) names the hand-out's one folder once
            source = cell.source.replace(" notebooks/exercises/student/*.ipynb", "")
            source = source.replace("exercises/student/", "exercises/").replace("](student/", "](")
            if path.parent.name == "exercises":  # a sheet: it moved up from exercises/student/
                source = source.replace("](../../", "](../").replace("](../README.md)", "](../../README.md)")
            else:  # the walkthrough: the teacher's guide is not in the hand-out; its README is
                source = source.replace("](exercises/README.md)", "](../README.md)")
            for target in LINK.findall(source):
                resolved = (path.parent / target.split("#")[0]).resolve()
                if not resolved.exists() or out.resolve() not in [resolved, *resolved.parents]:
                    broken.append(f"{path.relative_to(out)}: {target}")
            changed |= source != cell.source
            cell.source = source
        if changed:
            nbformat.write(nb, path)
    return broken


def build(out: Path) -> list[str]:
    """Write the hand-out into ``out`` (which must not exist, or be empty); return the links that lead nowhere
    in it (the teacher's guide, the project's README: to reword or to leave, not a student's problem)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"out must be a new or empty folder, got {str(out)!r}")
    out.mkdir(parents=True, exist_ok=True)
    _package(out)
    (out / "README.md").write_text(README.format(solutions=SOLUTIONS_FILE, setup=SETUP), encoding="utf-8")
    shutil.copytree(ROOT / "examples", out / "examples")  # notebook 05 runs examples/main.py as a script
    broken = _notebooks(out)
    (out / "requirements.txt").write_text(REQUIREMENTS, encoding="utf-8")
    return broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="the folder to write the hand-out into (new or empty)")
    parser.add_argument("--solutions", type=Path, help="write the solutions file to release to students")
    args = parser.parse_args(argv)
    if not args.out and not args.solutions:
        parser.error("give --out DIR (the hand-out) or --solutions FILE (the solutions to release)")
    try:
        if args.out:
            broken = build(args.out)
            print(f"wrote the hand-out in {args.out}: README.md, requirements.txt, notebooks/, package/")
            for link in broken:
                print(f"  a link that leads outside the hand-out: {link}")
        if args.solutions:
            args.solutions.write_text(json.dumps(solutions(), indent=1, ensure_ascii=False), encoding="utf-8")
            print(f"wrote {args.solutions}: hand it out when the solutions may be seen")
    except (ValueError, OSError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Generate the student form of the exercises from the instructor sources (``make student``), and the answer key.

The sheets (``notebooks/exercises``): in code cells, the lines from ``### BEGIN SOLUTION`` to
``### END SOLUTION`` become ``# YOUR CODE HERE`` and a stub: the text after ``### BEGIN SOLUTION:``, or
``raise NotImplementedError``. In Markdown, ``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->``
becomes "*Your answer here.*". A live ``ex.q4.solution()`` line is commented out, so that Run All never
shows a solution. Outputs are cleared, and relative links gain one ``../`` (the copies live one folder
down, in ``student/``).

The walkthrough (``notebooks/NN-*.ipynb``) is committed in student form, executed: its exercises live in
``ella_lab.exercises.walkNN``, imported ``as ex``. An answer cell is marked in its metadata,
``{"ella_lab": {"answer": "q2"}}``, and holds ``ex.q2.stub`` exactly; a later cell checks it,
``ex.q2.check(<the name the stub binds>)``. ``--walkthrough`` writes each answer cell from its stub
(clearing its outputs when that changes it: re-execute the notebook then), comments out live
``solution()`` calls, and reports what it cannot fix: a question with no answer cell or no check cell, or
with two, an answer cell of no question, a check that passes another name than the stub binds.
``--key`` writes the answer key instead: the walkthrough with ``solution_text`` in every answer cell.

    python -m ella_lab.tools.student notebooks/exercises                 # write student/*.ipynb
    python -m ella_lab.tools.student notebooks/exercises --check         # exit 1 if a copy is out of date
    python -m ella_lab.tools.student --walkthrough notebooks             # answer cells from their stubs
    python -m ella_lab.tools.student --walkthrough notebooks --check     # exit 1, one line per problem
    python -m ella_lab.tools.student --walkthrough notebooks --key key   # key/NN-*.ipynb (make key runs them)
    python -m ella_lab.tools.student --verdicts key                      # executed key: every check correct?
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat

BEGIN = re.compile(r"^(?P<indent>\s*)### BEGIN SOLUTION(?::\s*(?P<stub>.*\S))?\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
LIVE_SOLUTION = re.compile(r"^(?P<indent>\s*)(?P<call>[\w.]+\.solution\(\)\s*(?:#.*)?)$")
MD_SOLUTION = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->", re.S)
RELATIVE_LINK = re.compile(r"\]\((?!https?:|#|/)([^)]+)\)")


def comment_out_solution(line: str) -> str:
    """``line`` with a live ``x.solution()`` call commented out (any other line as it is)."""
    live = LIVE_SOLUTION.match(line)
    return f"{live.group('indent')}# {live.group('call')}" if live else line


def strip_code(source: str) -> str:
    """Replace each solution region of a code cell by its stub."""
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        begin = BEGIN.match(line)
        if begin and not inside:
            inside = True
            indent = begin.group("indent")
            out += [f"{indent}# YOUR CODE HERE", f"{indent}{begin.group('stub') or 'raise NotImplementedError'}"]
        elif inside and END.match(line):
            inside = False
        elif not inside:
            out.append(comment_out_solution(line))
    if inside:
        raise ValueError("a ### BEGIN SOLUTION has no ### END SOLUTION")
    return "\n".join(out)


def strip_markdown(source: str) -> str:
    source = MD_SOLUTION.sub("*Your answer here.*", source)
    return RELATIVE_LINK.sub(lambda m: f"](../{m.group(1)})", source)


def student_copy(instructor: Path) -> str:
    """The student notebook for ``instructor``, as the text that ``make student`` writes."""
    nb = nbformat.read(instructor, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = strip_code(cell.source)
            cell.outputs = []
            cell.execution_count = None
            cell.metadata = {}
        elif cell.cell_type == "markdown":
            cell.source = strip_markdown(cell.source)
    nb.metadata.pop("widgets", None)
    return nbformat.writes(nb) + "\n"


# -- the walkthrough -------------------------------------------------------------------------------

CHECK_CALL = re.compile(r"^\s*ex\.(?P<question>\w+)\.check\((?P<argument>[^,)]*)")
WALKTHROUGH = "[0-9][0-9]-*.ipynb"
KEY_NOTE = (
    "**Answer key, for teachers** (written by `make key` from `ella_lab/exercises/{module}.py`): every answer "
    "cell holds the model answer (`solution_text`), and every check under it should say *Correct*. Do not hand "
    "it out: learners use [the notebook itself](../notebooks/{name})."
)


def cell_text(text: str) -> str:
    """A stub or a solution as a cell holds it: dedented, blank lines at either end removed (as solution() shows it)."""
    return textwrap.dedent(text).strip()


def walk_module(notebook: Path) -> ModuleType | None:
    """The exercises of a walkthrough notebook: ``03-threaded-router.ipynb`` → ``walk03``, or None (no module)."""
    if not re.match(r"\d\d-", notebook.name):
        return None
    name = f"ella_lab.exercises.walk{notebook.name[:2]}"
    return importlib.import_module(name) if importlib.util.find_spec(name) else None


def walk_questions(module: ModuleType) -> dict[str, Any]:
    """A walk module's questions by the name a notebook uses (``q1``, ``breaker``), in the module's order."""
    from ..exercises._core import Question

    return {name: value for name, value in vars(module).items() if isinstance(value, Question)}


def answer_name(cell: Any) -> str | None:
    """The question whose answer cell this is (``cell.metadata.ella_lab.answer``), or None."""
    mark = cell.get("metadata", {}).get("ella_lab", {})
    return mark.get("answer") if isinstance(mark, dict) else None


def bound_names(source: str) -> set[str]:
    """The names that running ``source`` binds at its top level (assignments, def, class, import)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def live_lines(source: str) -> list[str]:
    return [line for line in source.splitlines() if not line.lstrip().startswith("#")]


def check_calls(nb: Any) -> dict[str, list[tuple[int, str]]]:
    """Every live ``ex.<question>.check(<argument>, ...)`` of a notebook: question → [(cell index, argument)]."""
    found: dict[str, list[tuple[int, str]]] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            for line in live_lines(cell.source):
                call = CHECK_CALL.match(line)
                if call:
                    found.setdefault(call["question"], []).append((index, call["argument"].strip()))
    return found


def to_student(nb: Any, module: ModuleType | None, *, check: bool = False) -> list[str]:
    """Put ``nb`` in student form, in place: every answer cell holds its question's stub, and no live
    ``solution()`` call is left. Returns one line per cell changed (with ``check``: per cell to change)."""
    questions = walk_questions(module) if module else {}
    short = module.__name__.rsplit(".", 1)[-1] if module else ""
    changes = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        name, source = answer_name(cell), cell.source
        if name in questions and cell_text(questions[name].stub) and source != cell_text(questions[name].stub):
            source = cell_text(questions[name].stub)
            changes.append(f"cell {index} ({name}): {'differs from' if check else 'set to'} {short}.{name}.stub")
        commented = "\n".join(comment_out_solution(line) for line in source.split("\n"))
        if commented != source:
            source = commented
            changes.append(f"cell {index}: {'a live' if check else 'commented out a'} solution() call")
        if source != cell.source:
            cell.source, cell.outputs, cell.execution_count = source, [], None
    return changes


def walkthrough_problems(nb: Any, module: ModuleType | None) -> list[str]:
    """What ``to_student`` cannot fix: the cells of ``nb`` and the questions of ``module`` do not match."""
    marked = [(i, c, answer_name(c)) for i, c in enumerate(nb.cells) if answer_name(c) is not None]
    if module is None:
        return [
            f"cell {i}: an answer cell ({name}), but no ella_lab.exercises module for this notebook"
            for i, _, name in marked
        ]
    short = module.__name__.rsplit(".", 1)[-1]
    questions = walk_questions(module)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    problems = []
    if not re.search(rf"^from ella_lab\.exercises import {short} as ex$", code, re.M):
        problems.append(f"no `from ella_lab.exercises import {short} as ex` (the exercises are always `ex`)")
    blank = any(re.search(r"\b____\b", q.stub) for q in questions.values())
    if blank and not re.search(rf"^from ella_lab\.exercises\.{short} import .*\b____\b", code, re.M):
        problems.append(
            f"a stub uses ____, and the notebook does not import it: `from ella_lab.exercises.{short} import ____`"
        )
    answers: dict[str, list[int]] = {}
    for index, cell, name in marked:
        if cell.cell_type != "code":
            problems.append(f"cell {index}: a {cell.cell_type} cell marked as the answer cell of {name}")
        elif name not in questions:
            problems.append(f"cell {index}: an answer cell for {name!r}, which is not a question of {short}")
        else:
            answers.setdefault(name, []).append(index)
    checks = check_calls(nb)
    for name in checks.keys() - questions.keys():
        problems.append(f"cell {checks[name][0][0]}: ex.{name}.check(...), and {short} has no question {name}")
    for name, question in questions.items():
        where = f"{short}.{name}"
        stub = cell_text(question.stub)
        if not stub:
            problems.append(f"{where} has no stub (the text of its answer cell)")
        cells, calls = answers.get(name, []), checks.get(name, [])
        if not cells:
            problems.append(
                f'{where}: no answer cell (a code cell with the metadata {{"ella_lab": {{"answer": "{name}"}}}})'
            )
        elif len(cells) > 1:
            problems.append(f"{where}: {len(cells)} answer cells (cells {', '.join(map(str, cells))}); one only")
        if len(calls) != 1:
            at = f" (cells {', '.join(str(i) for i, _ in calls)})" if calls else ""
            problems.append(f"{where}: {len(calls)} check cells{at}; expected one ex.{name}.check(...)")
            continue
        ((at, argument),) = calls
        if cells and at == cells[0]:
            problems.append(f"cell {at}: the answer cell of {name} also checks it: put the check in the next cell")
        elif cells and at < cells[0]:
            problems.append(f"cell {at}: checks {name} above its answer cell (cell {cells[0]})")
        if stub and argument not in bound_names(stub):
            binds = ", ".join(sorted(bound_names(stub))) or "nothing"
            problems.append(f"cell {at}: ex.{name}.check({argument}) does not pass what {where}.stub binds ({binds})")
    return problems


def walkthrough(folder: Path, *, check: bool) -> int:
    """Bring every walkthrough notebook of ``folder`` to student form (with ``check``: report only)."""
    unfixable = 0
    for path in sorted(folder.glob(WALKTHROUGH)):
        nb = nbformat.read(path, as_version=4)
        module = walk_module(path)
        problems = walkthrough_problems(nb, module)
        changes = to_student(nb, module, check=check)
        unfixable += len(problems)
        for line in problems + changes:
            print(f"{path}: {line}")
        if changes and not check:
            nbformat.write(nb, path)
            print(f"{path}: re-execute it (make notebooks, or python -m ella_lab.tools.execute {path})")
        if changes and check:
            unfixable += len(changes)
    return 1 if unfixable else 0


def answer_key(path: Path) -> Any:
    """Walkthrough notebook ``path`` with the model answers in its answer cells, unexecuted (None: no exercises)."""
    module = walk_module(path)
    if module is None:
        return None
    nb = nbformat.read(path, as_version=4)
    questions = walk_questions(module)
    for cell in nb.cells:
        name = answer_name(cell)
        if name in questions:
            cell.source, cell.outputs, cell.execution_count = cell_text(questions[name].solution_text), [], None
    short = module.__name__.rsplit(".", 1)[-1]
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(KEY_NOTE.format(module=short, name=path.name)))
    nb.metadata.pop("widgets", None)
    return nb


def write_key(folder: Path, target: Path) -> int:
    """Write the answer key of every walkthrough notebook with exercises; refuse while the notebooks have problems."""
    written, problems = [], []
    for path in sorted(folder.glob(WALKTHROUGH)):
        nb = answer_key(path)
        if nb is None:
            continue
        problems += [
            f"{path}: {line}" for line in walkthrough_problems(nbformat.read(path, as_version=4), walk_module(path))
        ]
        written.append((target / path.name, nb))
    if problems:
        print("\n".join(problems) + "\nno key written: fix the notebooks first")
        return 1
    target.mkdir(parents=True, exist_ok=True)
    for path, nb in written:
        nbformat.write(nb, path)
        print(f"wrote: {path}")
    return 0


def key_verdicts(nb: Any) -> dict[str, str]:
    """The verdict line each check of an executed notebook printed: question → line ("" when it printed none)."""
    verdicts = {}
    for name, calls in check_calls(nb).items():
        for index, _ in calls:
            lines = [
                line
                for output in nb.cells[index].get("outputs", [])
                for line in "".join(output.get("text") or output.get("data", {}).get("text/plain", "")).splitlines()
                if line.startswith(f"{name} ")
            ]
            verdicts[name] = lines[-1] if lines else ""
    return verdicts


def verify_key(folder: Path) -> int:
    """After ``make key`` executed the key: every check of every key notebook said Correct? One line per notebook."""
    correct = total = 0
    for path in sorted(folder.glob(WALKTHROUGH)):
        nb = nbformat.read(path, as_version=4)
        module = walk_module(path)
        verdicts = key_verdicts(nb)
        wanted = walk_questions(module) if module else {}
        good = [name for name in wanted if "✓ Correct" in verdicts.get(name, "")]
        correct, total = correct + len(good), total + len(wanted)
        print(f"{path}: {len(good)} of {len(wanted)} checks correct")
        for name in wanted.keys() - set(good):
            print(f"    {name}: {verdicts.get(name) or 'no verdict printed (was the key executed?)'}")
    print(f"{correct} of {total} checks correct")
    return 0 if total and correct == total else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, nargs="?", help="the folder of instructor sheets (notebooks/exercises)")
    parser.add_argument("--walkthrough", type=Path, metavar="FOLDER", help="the walkthrough's folder (notebooks)")
    parser.add_argument("--key", type=Path, metavar="FOLDER", help="with --walkthrough: write the answer key there")
    parser.add_argument("--verdicts", type=Path, metavar="FOLDER", help="an executed key: is every check correct?")
    parser.add_argument("--check", action="store_true", help="write nothing; fail if a copy or a cell is out of date")
    args = parser.parse_args(argv)
    if args.folder is None and args.walkthrough is None and args.verdicts is None:
        parser.error("name the sheets' folder, --walkthrough FOLDER or --verdicts FOLDER")
    if args.key is not None and args.walkthrough is None:
        parser.error("--key needs --walkthrough FOLDER")
    status = 0
    if args.folder is not None:
        status |= sheets(args.folder, check=args.check)
    if args.walkthrough is not None:
        if args.key is not None:
            status |= write_key(args.walkthrough, args.key)
        else:
            status |= walkthrough(args.walkthrough, check=args.check)
    if args.verdicts is not None:
        status |= verify_key(args.verdicts)
    return status


def sheets(folder: Path, *, check: bool) -> int:
    """Write (or with ``check``, compare) the student copy of every sheet in ``folder``."""
    target = folder / "student"
    stale = []
    for instructor in sorted(folder.glob("*.ipynb")):
        copy, text = target / instructor.name, student_copy(instructor)
        if copy.exists() and copy.read_text() == text:
            continue
        stale.append(copy)
        if not check:
            target.mkdir(exist_ok=True)
            copy.write_text(text)
    for path in stale:
        print(f"{'out of date' if check else 'wrote'}: {path}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())

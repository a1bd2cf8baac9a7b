"""Find the submissions, read what a notebook says about itself: its sheet, its student, its attempt log."""

from __future__ import annotations

import ast
import json
import logging
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "Submission",
    "answer_names",
    "attempt_log",
    "checked_names",
    "collect",
    "detect_sheet",
    "instructor_sheets",
    "question_names",
    "suspicious",
]

SHEET_IMPORT = re.compile(r"ella_lab\.exercises(?:\s+import\s+|\.)(phase\d+|walk\d+)\b")
# Any identifier where a question's name goes (walk07's are storm, hedge, breaker): only the names of the
# notebook's sheet are kept (question_names), so a student's own ``validator.check(x)`` is no answer.
CHECK_CALL = re.compile(r"\b([A-Za-z_]\w*)\.check\(\s*([A-Za-z_]\w*)\s*[,)]")  # a predict check: measured=... after
CHECK_LINE = re.compile(r"^([A-Za-z_]\w*) (✓ Correct|✗ Incorrect|… Not attempted yet)", re.M)
HINT_LINE = re.compile(r"^([A-Za-z_]\w*) hint \d+/\d+:", re.M)
SOLUTION_LINE = re.compile(r"^([A-Za-z_]\w*) solution:", re.M)
UNKNOWN_SHEET_QUESTION = re.compile(r"q\d+")  # no sheet found: the usual names, q1, q2, ...
ATTEMPT_MIME = "application/vnd.ella-lab.attempt+json"
ACTIONS = {"check": "checks", "hint": "hints", "solution": "solutions"}
MAX_ZIP_BYTES = 200 * 2**20  # a class's notebooks, unpacked; more is not a class
MAX_NOTEBOOK_BYTES = 100 * 2**20  # one sheet, outputs and all; more is not read (it would be read twice, whole)
ID_IN_NAME = re.compile(r"^(.*?)[-_ ]*ex\d\d(?:\b|_)")  # alice-ex03..., alice_ex03_final, alice ex03
GENERIC_NAME = re.compile(r"^(?:ex\d\d.*|untitled.*|notebook\d*|submission\d*)$", re.I)

log = logging.getLogger(__name__)


@dataclass
class Submission:
    """One notebook handed in: where it is, whose it is (the file name, until the notebook says otherwise)."""

    path: Path
    student: str
    label: str  # the path as the teacher gave it, for the tables
    notebook: dict[str, Any] | None = None
    problem: str | None = None  # why it is not a notebook, when it is not
    attempts: dict[str, dict[str, int]] = field(default_factory=dict)


def collect(
    paths: Iterable[str | Path],
    workdir: Path,
    sheet_names: Iterable[str] = (),
    skipped: list[str] | None = None,
    exclude: Iterable[str | Path] = (),
) -> list[Submission]:
    """Every notebook among ``paths``: files, folders searched recursively, zip files unpacked into ``workdir``.

    In a folder, a notebook is any file whose name has ``.ipynb`` in it (any case: ``x.IPYNB``,
    ``x.ipynb.txt``), and a zip file is unpacked; the other files are appended to ``skipped`` (hidden files
    and Jupyter's checkpoints aside), and the folders in ``exclude`` (the grader's output) are passed over.
    A file given twice is collected once.
    """
    excluded = [Path(e).resolve() for e in exclude]
    found: list[_Found] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ValueError(f"submissions: no such file or folder: {str(raw)!r}")
        if path.is_dir():
            for item in sorted(path.rglob("*")):
                inner = item.relative_to(path)
                if not item.is_file() or _hidden(inner) or any(e in item.resolve().parents for e in excluded):
                    continue
                if _is_notebook_name(item.name):
                    found.append(_Found(item, str(inner), inner, path.resolve().name))
                elif item.suffix.lower() == ".zip":  # a student's zip: what is wrong with it is their row's
                    found += _unzip(item, workdir, str(inner), strict=False)
                elif skipped is not None:
                    skipped.append(str(inner))
        elif path.suffix.lower() == ".zip":
            found += _unzip(path, workdir, path.name, strict=True)
        else:
            found.append(_Found(path, path.name, Path(path.name), path.resolve().parent.name))
    names = [n.removesuffix(".ipynb") for n in sheet_names]
    seen: set[Path] = set()
    submissions = []
    for item in found:
        if item.path.resolve() in seen:
            continue
        seen.add(item.path.resolve())
        student = unicodedata.normalize("NFC", _student(item.inner, item.root, names))  # a Mac writes NFD
        if item.problem is not None:
            submissions.append(Submission(path=item.path, student=student, label=item.label, problem=item.problem))
        else:
            submissions.append(_read(item.path, item.label, student))
    if skipped:
        log.warning("not collected (neither a notebook nor a zip file): %s", ", ".join(skipped))
    return submissions


def _hidden(inner: Path) -> bool:
    """A hidden file, Jupyter's checkpoints, the Mac's zip companions: never a submission."""
    return any((part.startswith(".") and part not in (".", "..")) or part == "__MACOSX" for part in inner.parts)


def _is_notebook_name(name: str) -> bool:
    return ".ipynb" in name.lower()


@dataclass
class _Found:
    path: Path
    label: str
    inner: Path  # the path below the folder or zip it was found in
    root: str  # the name of that folder or zip
    problem: str | None = None


def _unzip(path: Path, workdir: Path, label: str, *, strict: bool) -> list[_Found]:
    """The notebooks in a zip file, unpacked. What is wrong with the zip raises (``strict``: the teacher's
    own zip) or becomes the problem of a row (a zip a student handed in)."""
    root = Path(path.name).stem

    def broken(why: str) -> list[_Found]:
        if strict:
            raise ValueError(f"submissions: {str(path)!r} {why}")
        return [_Found(path, label, Path(root), root, f"a zip file that {why}")]

    target = Path(tempfile.mkdtemp(prefix="zip-", dir=workdir))
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return broken("is not a zip file" if strict else "cannot be opened")
    with archive:
        members = [
            m for m in archive.infolist() if _is_notebook_name(Path(m.filename).name) and not _hidden(Path(m.filename))
        ]
        if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
            return broken(f"unpacks to more than {MAX_ZIP_BYTES // 2**20} MiB of notebooks")
        if not members and not strict:
            return broken("holds no notebook")
        out = []
        for number, member in enumerate(members):
            inner = Path(member.filename)
            if inner.is_absolute() or ".." in inner.parts:  # a path that would land outside: keep the name only
                inner = Path(inner.name)
            dest = target / f"{number:04d}" / inner
            dest.parent.mkdir(parents=True, exist_ok=True)
            found = _Found(dest, f"{label}:{member.filename}", inner, root)
            try:
                with archive.open(member) as src, open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
                found.problem = f"cannot be unpacked ({exc.__class__.__name__}: {str(exc)[:80]})"
            out.append(found)
    return out


def _student(inner: Path, root: str, sheet_names: list[str]) -> str:
    """The student's id, as the teacher's guide says: from the file's name or else from its folder.

    nbgrader's collected layout, ``submitted/<student>/<assignment>/*.ipynb``, names the student by its folder;
    ``alice-ex03-....ipynb`` and ``alice_ex03_final.ipynb`` name alice anywhere; a file in a folder of its
    own (``alice/ex03-threaded-router.ipynb``, ``alice/Untitled1.ipynb``) is the folder's; a file named
    only like the sheet, given by itself or at the top of a folder or a zip, is that folder's or zip's;
    else the file's name (``alice.ipynb``).
    """
    if len(inner.parts) == 3 and root == "submitted":
        return inner.parts[0]  # nbgrader's collected layout: submitted/<student>/<assignment>/<file>
    if len(inner.parts) == 4 and inner.parts[0] == "submitted":
        return inner.parts[1]  # the course folder given: <course>/submitted/<student>/<assignment>/<file>
    stem = re.split(r"\.ipynb", inner.name, maxsplit=1, flags=re.I)[0]
    named = ID_IN_NAME.match(stem)
    if named and named.group(1).strip("-_ "):
        return named.group(1).strip("-_ ")
    if len(inner.parts) > 1:
        return inner.parent.name
    if stem in sheet_names or GENERIC_NAME.match(stem):
        return root or stem
    return stem


def _read(path: Path, label: str, student: str) -> Submission:
    sub = Submission(path=path, student=student, label=label)
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            sub.problem = (
                f"the file is {size / 2**20:.0f} MiB, more than the {MAX_NOTEBOOK_BYTES // 2**20} MiB a sheet can be "
                "(megabytes of output saved in it?): not read; open it to see"
            )
            return sub
        raw = path.read_bytes()
        if not raw.strip():
            sub.problem = "the file is empty"
            return sub
        nb = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        sub.problem = f"not valid JSON ({exc.__class__.__name__}: {str(exc)[:80]})"
        return sub
    except (OSError, RecursionError) as exc:
        sub.problem = f"cannot be read ({exc.__class__.__name__}: {str(exc)[:80]})"
        return sub
    if isinstance(nb, dict) and nb.get("nbformat") == 3 and isinstance(nb.get("worksheets"), list):
        try:  # an old notebook: Jupyter opens it, and the grader's kernel runs it converted
            import nbformat

            nb = json.loads(nbformat.writes(nbformat.reads(raw.decode(), as_version=4)))
        except Exception as exc:
            sub.problem = f"an nbformat 3 notebook that cannot be converted ({exc.__class__.__name__})"
            return sub
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        sub.problem = "JSON, but not a Jupyter notebook (no list of cells)"
        return sub
    sub.notebook = nb
    try:
        sub.attempts = attempt_log(nb)
    except Exception:  # the log is only what the saved outputs show; a hand-edited one is no reason to stop
        log.warning("%s: the attempt log in its outputs cannot be read", label, exc_info=True)
    return sub


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _code(nb: dict[str, Any]) -> list[str]:
    return [_source(c) for c in nb.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"]


def detect_sheet(nb: dict[str, Any]) -> str | None:
    """The exercise module the notebook imports (``phase3``), or None."""
    found = Counter(m for source in _code(nb) for m in SHEET_IMPORT.findall(source))
    return found.most_common(1)[0][0] if found else None


@lru_cache(maxsize=64)
def question_names(sheet: str | None) -> tuple[str, ...]:
    """The names of ``ella_lab.exercises.<sheet>``'s questions, in the sheet's order (``("q1", ...)``, walk07's
    ``("storm", "hedge", "breaker")``); ``()`` for no sheet or one that does not exist."""
    if sheet is None or not re.fullmatch(r"(?:phase|walk)\d+", sheet):
        return ()
    import importlib

    from .judge import questions

    try:
        module = importlib.import_module(f"ella_lab.exercises.{sheet}")
    except ImportError:
        return ()
    return tuple(name for name, _ in questions(module))


def _is_question(nb: dict[str, Any], sheet: str | None) -> Callable[[str], bool]:
    """Whether a name is a question of ``sheet`` (by default the sheet the notebook imports); with no known
    sheet, whether it is named like one (``q1``)."""
    names = question_names(sheet or detect_sheet(nb))
    if names:
        return frozenset(names).__contains__
    return lambda name: UNKNOWN_SHEET_QUESTION.fullmatch(name) is not None


def _check_calls(nb: dict[str, Any], sheet: str | None) -> Iterator[tuple[str, str]]:
    """(question, variable) of each ``ex.<question>.check(<variable>...)`` (or ``<question>.check(...)``), in order."""
    is_question = _is_question(nb, sheet)
    for source in _code(nb):
        for question, name in CHECK_CALL.findall(source):
            if is_question(question) and name not in ("None", "BLANK"):
                yield question, name


def answer_names(nb: dict[str, Any], sheet: str | None = None) -> dict[str, str]:
    """Which variable each check is given: ``ex.q1.check(makespan)`` -> ``{"q1": "makespan"}``, for the
    questions of ``sheet`` (by default the sheet the notebook imports: walk07's ``ex.storm.check(...)`` too)."""
    return dict(_check_calls(nb, sheet))


def checked_names(nb: dict[str, Any], sheet: str | None = None) -> dict[str, list[str]]:
    """Every variable each check is given, in order: ``{"q1": ["my_makespan", "makespan"]}`` (``sheet``: as
    :func:`answer_names`)."""
    names: dict[str, list[str]] = {}
    for question, name in _check_calls(nb, sheet):
        if name not in names.setdefault(question, []):
            names[question].append(name)
    return names


def attempt_log(nb: dict[str, Any], sheet: str | None = None) -> dict[str, dict[str, int]]:
    """What the saved notebook shows the student did: checks (and their verdicts), hints, solutions, per question.

    The printed lines (a walkthrough's ``storm hint 1/3: ...``) count for the questions of ``sheet`` (by
    default the sheet the notebook imports); a structured record names its question itself.

    A cell keeps only the outputs of its last run, so each structured record also carries the session's
    totals so far (``checks``, ``hints``, ``solutions``): the count is the larger of the records seen and
    the largest total any of them carries (a hint asked in a cell since rewritten still counts).
    """
    log: dict[str, dict[str, int]] = {}
    totals: dict[str, dict[str, int]] = {}
    is_question: Callable[[str], bool] | None = None  # looked up at the first printed line

    def bump(question: str, key: str) -> None:
        entry = log.setdefault(question, {"checks": 0, "correct_checks": 0, "hints": 0, "solutions": 0})
        entry[key] += 1

    for cell in nb.get("cells", []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        records, text = [], []
        outputs = cell.get("outputs")
        for output in outputs if isinstance(outputs, list) else []:
            if not isinstance(output, dict):
                continue
            data = output.get("data") if isinstance(output.get("data"), dict) else {}
            if ATTEMPT_MIME in data:
                record = data[ATTEMPT_MIME]
                records += record if isinstance(record, list) else [record]
            chunk = output.get("text") if output.get("output_type") == "stream" else data.get("text/plain")
            if chunk:
                text.append("".join(map(str, chunk)) if isinstance(chunk, list) else str(chunk))
        if records:  # the structured log, when the sheet wrote one
            for record in records:
                if isinstance(record, dict) and isinstance(record.get("question"), str):
                    action = ACTIONS.get(str(record.get("action")))
                    if action:
                        bump(record["question"], action)
                        if action == "checks" and record.get("verdict") == "correct":
                            bump(record["question"], "correct_checks")
                        carried = totals.setdefault(record["question"], {})
                        for key in ACTIONS.values():
                            value = record.get(key)
                            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10_000:
                                carried[key] = max(carried.get(key, 0), value)
            continue
        joined = "\n".join(text)
        if is_question is None:
            is_question = _is_question(nb, sheet)
        for question, verdict in CHECK_LINE.findall(joined):
            if is_question(question):
                bump(question, "checks")
                if verdict.startswith("✓"):
                    bump(question, "correct_checks")
        for key, pattern in (("hints", HINT_LINE), ("solutions", SOLUTION_LINE)):
            for question in pattern.findall(joined):
                if is_question(question):
                    bump(question, key)
    for question, carried in totals.items():
        for key, value in carried.items():
            log[question][key] = max(log[question][key], value)
    return log


# What an answer never needs, and a cheat does: the grader's internals, a question's hidden cases or its
# solution's text, code run from a string, signals to other processes.
SECRET_ATTRIBUTES = {"HIDDEN", "HIDDEN_SCRIPTS", "hidden_check", "_check_hidden", "solution_text", "_judge"}
PRIVATE_MODULES = ("ella_lab.grading", "ella_lab.exercises._core", "ctypes")
STRING_RUNNERS = {"exec", "eval", "compile", "__import__"}
PROCESS_CALLS = {"kill", "killpg", "getppid", "setsid", "fork", "forkpty"}
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "<!-- BEGIN SOLUTION -->")  # only the instructor's sheets have them


def suspicious(nb: dict[str, Any]) -> list[str]:
    """What the notebook's code does that a teacher should look at (a static reading; the grade ignores it).

    Each finding names the code cell: ``sets ex.q1.check (code cell 5)``. Flagged: assigning to (or
    deleting) an attribute of anything imported (``ex.q1.check = ...``, ``math.isclose = ...``),
    ``setattr`` on it, importing the grader or the checks' core, reading hidden cases or a solution's text,
    running code from a string, signalling or forking processes, and the grader's marker.
    """
    trees = []
    for source in _code(nb):
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]  # IPython magics
        try:
            trees.append(ast.parse("\n".join(lines)))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            trees.append(None)
    imported = {"builtins", "__builtins__", "sys"} | {
        (alias.asname or alias.name).split(".")[0]
        for tree in trees
        if tree is not None
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    found: list[str] = []
    cells = [c for c in nb.get("cells", []) if isinstance(c, dict)]
    if any(marker in _source(c) for c in cells for marker in SOLUTION_MARKERS):
        found.append("holds the instructor's copy's solution markers (### BEGIN SOLUTION): the teacher's sheet?")
    for number, tree in enumerate(trees, 1):
        if tree is not None:
            seen = [what for node in ast.walk(tree) for what in _findings(node, imported)]
            found += [f"{what} (code cell {number})" for what in dict.fromkeys(seen)]
    return found


def _dotted(node: ast.AST) -> str | None:
    """``ex.q1.check`` for that attribute chain (calls and subscripts shown as ``(...)`` and ``[]``), else None."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            parts.append("(...)")
            node = node.func
        elif isinstance(node, ast.Subscript):
            parts.append("[]")
            node = node.value
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return ".".join(reversed(parts)).replace(".(...)", "(...)").replace(".[]", "[]")
        else:
            return None


def _findings(node: ast.AST, imported: set[str]) -> list[str]:
    targets: list[ast.AST] = []
    if isinstance(node, (ast.Assign, ast.Delete)):
        targets = list(node.targets)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    out = []
    for target in targets:
        for item in target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]:
            name = _dotted(item) if isinstance(item, ast.Attribute) else None
            if name and name.split(".")[0].split("(")[0].split("[")[0] in imported:
                out.append(f"{'deletes' if isinstance(node, ast.Delete) else 'sets'} {name}")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id in ("setattr", "delattr") and node.args:
            name = _dotted(node.args[0])
            if name and name.split(".")[0] in imported:
                out.append(f"{node.func.id}() on {name}")
        if node.func.id in STRING_RUNNERS:
            out.append(f"runs code from a string ({node.func.id})")
    if isinstance(node, ast.Attribute):
        if node.attr in SECRET_ATTRIBUTES:
            out.append(f"reads {_dotted(node) or node.attr}")
        if node.attr in PROCESS_CALLS and isinstance(node.value, ast.Name) and node.value.id in ("os", "pty"):
            out.append(f"uses {node.value.id}.{node.attr}")
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        if isinstance(node, ast.ImportFrom):
            modules += [f"{node.module}.{alias.name}" for alias in node.names]
        for module in modules:
            if module.startswith(PRIVATE_MODULES):
                out.append(f"imports {module}")
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if "@@ella-lab-grade@@" in node.value:
            out.append("writes the grader's marker")
        if "/proc/" in node.value:
            out.append("reads /proc")
    return out


def instructor_sheets(folder: Path) -> dict[str, tuple[Path, dict[str, str]]]:
    """For each sheet module, its instructor notebook and the answer names its checks use."""
    sheets: dict[str, tuple[Path, dict[str, str]]] = {}
    for path in sorted(folder.glob("*.ipynb")):
        try:
            nb = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        sheet = detect_sheet(nb)
        if sheet and sheet not in sheets:
            sheets[sheet] = (path, answer_names(nb, sheet))
    return sheets

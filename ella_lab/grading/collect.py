"""Find the submissions, read what a notebook says about itself: its sheet, its student, its attempt log."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Submission", "answer_names", "attempt_log", "collect", "detect_sheet", "instructor_sheets"]

SHEET_IMPORT = re.compile(r"ella_lab\.exercises(?:\s+import\s+|\.)(phase\d+|walk\d+)\b")
CHECK_CALL = re.compile(r"\b(q\d+)\.check\(\s*([A-Za-z_]\w*)\s*\)")
CHECK_LINE = re.compile(r"^(q\d+) (✓ Correct|✗ Incorrect|… Not attempted yet)", re.M)
HINT_LINE = re.compile(r"^(q\d+) hint \d+/\d+:", re.M)
SOLUTION_LINE = re.compile(r"^(q\d+) solution:", re.M)
ATTEMPT_MIME = "application/vnd.ella-lab.attempt+json"
MAX_ZIP_BYTES = 200 * 2**20  # a class's notebooks, unpacked; more is not a class


@dataclass
class Submission:
    """One notebook handed in: where it is, whose it is (the file name, until the notebook says otherwise)."""

    path: Path
    student: str
    label: str  # the path as the teacher gave it, for the tables
    notebook: dict[str, Any] | None = None
    problem: str | None = None  # why it is not a notebook, when it is not
    attempts: dict[str, dict[str, int]] = field(default_factory=dict)


def collect(paths: Iterable[str | Path], workdir: Path, sheet_names: Iterable[str] = ()) -> list[Submission]:
    """Every ``.ipynb`` among ``paths`` (files, folders searched recursively, zip files unpacked into ``workdir``)."""
    found: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ValueError(f"submissions: no such file or folder: {str(raw)!r}")
        if path.is_dir():
            found += [
                (p, str(p.relative_to(path)))
                for p in sorted(path.rglob("*.ipynb"))
                if ".ipynb_checkpoints" not in p.parts
            ]
        elif path.suffix == ".zip":
            found += _unzip(path, workdir)
        else:
            found.append((path, path.name))
    names = [n.removesuffix(".ipynb") for n in sheet_names]
    return [_read(path, label, names) for path, label in found]


def _unzip(path: Path, workdir: Path) -> list[tuple[Path, str]]:
    target = Path(tempfile.mkdtemp(prefix="zip-", dir=workdir))
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(f"submissions: {str(path)!r} is not a zip file") from None
    with archive:
        members = [m for m in archive.infolist() if m.filename.endswith(".ipynb") and "__MACOSX" not in m.filename]
        if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
            raise ValueError(
                f"submissions: {str(path)!r} unpacks to more than {MAX_ZIP_BYTES // 2**20} MiB of notebooks"
            )
        out = []
        for number, member in enumerate(members):
            inner = Path(member.filename)
            if inner.is_absolute() or ".." in inner.parts:  # a path that would land outside: keep the name only
                inner = Path(inner.name)
            dest = target / f"{number:04d}" / inner
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst)
            out.append((dest, f"{path.name}:{member.filename}"))
    return out


def _student(path: Path, sheet_names: list[str]) -> str:
    """The student's id from the file name: ``alice.ipynb``, ``alice-ex03-....ipynb``, or ``alice/ex03-....ipynb``."""
    stem = path.stem
    if stem in sheet_names:  # the sheet's own name: the folder says whose it is
        return path.parent.name
    return re.sub(r"[-_ ]*ex\d\d(?:\b|_).*$", "", stem).strip("-_ ") or path.parent.name


def _read(path: Path, label: str, sheet_names: list[str]) -> Submission:
    sub = Submission(path=path, student=_student(path, sheet_names), label=label)
    try:
        raw = path.read_bytes()
        if not raw.strip():
            sub.problem = "the file is empty"
            return sub
        nb = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        sub.problem = f"not valid JSON ({exc.__class__.__name__}: {str(exc)[:80]})"
        return sub
    except OSError as exc:
        sub.problem = f"cannot be read ({exc})"
        return sub
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        sub.problem = "JSON, but not a Jupyter notebook (no list of cells)"
        return sub
    sub.notebook = nb
    sub.attempts = attempt_log(nb)
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


def answer_names(nb: dict[str, Any]) -> dict[str, str]:
    """Which variable each check is given: ``ex.q1.check(makespan)`` -> ``{"q1": "makespan"}``."""
    names: dict[str, str] = {}
    for source in _code(nb):
        for question, name in CHECK_CALL.findall(source):
            if name not in ("None", "BLANK"):
                names[question] = name
    return names


def attempt_log(nb: dict[str, Any]) -> dict[str, dict[str, int]]:
    """What the saved notebook shows the student did: checks (and their verdicts), hints, solutions, per question."""
    log: dict[str, dict[str, int]] = {}

    def bump(question: str, key: str) -> None:
        entry = log.setdefault(question, {"checks": 0, "correct_checks": 0, "hints": 0, "solutions": 0})
        entry[key] += 1

    for cell in nb.get("cells", []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        records, text = [], []
        for output in cell.get("outputs", []) or []:
            if not isinstance(output, dict):
                continue
            data = output.get("data") or {}
            if ATTEMPT_MIME in data:
                record = data[ATTEMPT_MIME]
                records += record if isinstance(record, list) else [record]
            chunk = output.get("text") if output.get("output_type") == "stream" else data.get("text/plain")
            if chunk:
                text.append("".join(chunk) if isinstance(chunk, list) else str(chunk))
        if records:  # the structured log, when the sheet wrote one
            for record in records:
                if isinstance(record, dict) and isinstance(record.get("question"), str):
                    action = {"check": "checks", "hint": "hints", "solution": "solutions"}.get(record.get("action"))
                    if action:
                        bump(record["question"], action)
                        if action == "checks" and record.get("verdict") == "correct":
                            bump(record["question"], "correct_checks")
            continue
        joined = "\n".join(text)
        for question, verdict in CHECK_LINE.findall(joined):
            bump(question, "checks")
            if verdict.startswith("✓"):
                bump(question, "correct_checks")
        for question in HINT_LINE.findall(joined):
            bump(question, "hints")
        for question in SOLUTION_LINE.findall(joined):
            bump(question, "solutions")
    return log


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
            sheets[sheet] = (path, answer_names(nb))
    return sheets

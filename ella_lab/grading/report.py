"""Write a class's grades: ``grades.csv``, ``answers.csv``, ``report.html`` (self-contained) and its figures as PNG."""

from __future__ import annotations

import base64
import html
import io
import os
from collections import Counter
from pathlib import Path

from .grade import CHECK_BY_HAND, Grades

__all__ = ["GRADEBOOKS", "pass_rates", "write_gradebook", "write_outputs"]

GRADEBOOKS = ("canvas", "moodle")

TOP_MESSAGES = 3


FIGURES = ("pass_rate", "totals", "help_used")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may run as a formula


def write_outputs(grades: Grades, out: Path) -> dict[str, Path]:
    """Write every output into ``out`` (created if missing); return their paths by name.

    Each file is written whole or not at all (a temporary file, then renamed); a figure this run does not
    draw is removed, so nothing of an earlier run into ``out`` stays beside this one's report.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    out.mkdir(parents=True, exist_ok=True)
    table, answers = grades.grades_frame(), grades.answers_frame()
    paths = {"grades": out / "grades.csv", "answers": out / "answers.csv", "report": out / "report.html"}
    _write(paths["grades"], _spreadsheet_safe(table).to_csv(index=False).encode())
    _write(paths["answers"], _spreadsheet_safe(answers).to_csv(index=False).encode())
    figures = _figures(table, answers)
    for name in FIGURES:
        if name in figures:
            paths[name] = out / f"{name}.png"
            _write(paths[name], figures[name])
        else:
            (out / f"{name}.png").unlink(missing_ok=True)
    _write(paths["report"], _html(table, answers, figures, grades.skipped, grades.isolation()).encode("utf-8"))
    for kind in GRADEBOOKS:  # written afresh by write_gradebook when asked for
        (out / f"gradebook-{kind}.csv").unlink(missing_ok=True)
    return paths


def _write(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _spreadsheet_safe(frame):
    """The table with every text cell that a spreadsheet would run as a formula (``=HYPERLINK(...)``, a student
    id or file name chosen by the student) starting with an apostrophe: shown as text, never run."""
    return frame.map(lambda v: f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_START) else v)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


CHECK_BROKE = "internal error in the check"  # the check's own failure (``_core``), not the answer's


def _judged(answers):
    """The answers that were judged (a broken file's are not: no misconception, no failed question; a row to check
    by hand is not either: its verdicts may be the notebook's doing; nor an answer not attempted, nor one whose
    check itself broke: neither says what the student got wrong), each with a ``label``: the question, or
    ``phase3 q1`` when the class handed in more than one sheet."""
    message = answers.message.astype(str)
    judged = answers[~message.str.startswith("not graded:") & ~message.str.startswith(CHECK_BROKE)]
    if "status" in judged:
        judged = judged[judged.status != "check by hand"]
    blank = judged.verdict == "not attempted"  # a blank is not a wrong answer
    if "attempted" in judged:
        blank |= judged.attempted.astype(str) == "False"
    judged = judged[~blank]
    several = judged[judged.verdict != "manual"].sheet.nunique() > 1  # a broken file's written answer is not judged
    return judged.assign(label=(judged.sheet + " " + judged.question) if several else judged.question)


def _order(label: str) -> tuple[str, int, str]:
    *sheet, question = label.split(" ")
    digits = "".join(c for c in question if c.isdigit())
    return (" ".join(sheet), int(digits) if digits else 10**6, question)


def pass_rates(answers):
    """Per question (of the judged, automatically checked answers): judged, correct, pass rate (%), hint and
    solution use (%), in sheet and question order."""
    import pandas as pd

    auto = _judged(answers)
    auto = auto[auto.verdict != "manual"]
    if auto.empty:
        return pd.DataFrame(columns=["judged", "correct", "pass_rate", "hinted", "solution_shown"])
    rates = (
        auto.assign(ok=auto.verdict == "correct", hinted=auto.hints_used > 0)
        .groupby("label")
        .agg(
            judged=("ok", "size"),
            correct=("ok", "sum"),
            pass_rate=("ok", "mean"),
            hinted=("hinted", "mean"),
            solution_shown=("solution_shown", "mean"),
        )
    )
    rates[["pass_rate", "hinted", "solution_shown"]] *= 100
    return rates.reindex(sorted(rates.index, key=_order))


def graded_students(table, answers) -> set[str]:
    """The students with at least one answer judged (the totals count them; the others are listed apart)."""
    judged = answers[~answers.message.astype(str).str.startswith("not graded:") & (answers.verdict != "manual")]
    return set(judged.student)


def _figures(table, answers) -> dict[str, bytes]:
    import matplotlib.pyplot as plt

    figures: dict[str, bytes] = {}
    rates = pass_rates(answers)
    if not rates.empty:
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.bar(rates.index, rates.pass_rate.values, color="tab:blue")
        ax.set(ylim=(0, 100), ylabel="% of judged answers correct", title="Pass rate per question")
        figures["pass_rate"] = _png(fig)
        fig, ax = plt.subplots(figsize=(6, 3))
        x = range(len(rates.index))
        ax.bar([i - 0.2 for i in x], rates.hinted.values, width=0.4, label="used a hint")
        ax.bar([i + 0.2 for i in x], rates.solution_shown.values, width=0.4, label="showed the solution")
        ax.set_xticks(list(x), list(rates.index))
        ax.set(ylim=(0, 100), ylabel="% of judged answers", title="Hints and solutions")
        ax.legend()
        figures["help_used"] = _png(fig)
    graded = table[table.student.isin(graded_students(table, answers))] if not table.empty else table
    if not graded.empty and "score" in graded:
        from matplotlib.ticker import MaxNLocator

        fig, ax = plt.subplots(figsize=(6, 3))
        top = float(graded["max_score"].max() or 1)
        ax.hist(graded["score"], bins=[i - 0.5 for i in range(int(top) + 2)], color="tab:green", rwidth=0.9)
        ax.set_xticks(range(int(top) + 1))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # whole students
        ax.set(xlabel="score (automatic points)", ylabel="students", title="Distribution of totals")
        figures["totals"] = _png(fig)
    return figures


def _html(table, answers, figures: dict[str, bytes], skipped: list[str], isolation: str | None = None) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>ella-lab grades</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}img{max-width:100%}</style></head><body>",
        "<h1>Class report</h1>",
    ]
    statuses = Counter(table["status"]) if not table.empty else Counter()
    parts.append(
        f"<p>{len(table)} submission(s): "
        + ", ".join(f"{count} {esc(status)}" for status, count in sorted(statuses.items()))
        + "</p>"
    )
    if isolation:
        parts.append(f"<p>Isolation: {esc(isolation)}.</p>")
    if skipped:
        parts.append(
            f"<h2>Not collected</h2><p>{len(skipped)} file(s) among the submissions are neither a notebook nor a "
            "zip file, and were not graded: " + ", ".join(esc(name) for name in skipped) + "</p>"
        )
    look = table[(table["look_at"] != "") | (table["status"] == "check by hand")] if not table.empty else table
    if not look.empty:
        parts.append(
            f"<h2>To look at</h2><p>{len(look)} submission(s): what the notebook's code does that an answer does "
            "not need, two submissions for one student, or a notebook that changed what the checks rely on.</p>"
            "<table><tr><th>student</th><th>file</th><th>status</th><th>why</th></tr>"
        )
        for row in look.itertuples():
            why = "; ".join(x for x in (row.reason if row.status == "check by hand" else "", row.look_at) if x)
            parts.append(
                f"<tr><td>{esc(str(row.student))}</td><td>{esc(str(row.file))}</td><td>{esc(str(row.status))}</td>"
                f"<td>{esc(why)}</td></tr>"
            )
        parts.append("</table>")
    rates = pass_rates(answers)
    left_out = table[~table.student.isin(graded_students(table, answers))] if not table.empty else table
    for name, title in (("pass_rate", "Pass rate"), ("totals", "Totals"), ("help_used", "Hints and solutions")):
        if name in figures:
            data = base64.b64encode(figures[name]).decode()
            parts.append(f"<h2>{title}</h2><img alt='{title}' src='data:image/png;base64,{data}'>")
        if name == "totals" and not left_out.empty:
            parts.append(
                f"<p>Not in the totals ({len(left_out)}: no answer of theirs was judged): "
                + ", ".join(f"{esc(str(r.student))} ({esc(str(r.status))})" for r in left_out.itertuples())
                + "</p>"
            )
        if name == "pass_rate" and not rates.empty:
            parts.append(
                "<table><tr><th>question</th><th>judged</th><th>correct</th><th>pass rate</th>"
                "<th>used a hint</th><th>showed the solution</th></tr>"
            )
            parts += [
                f"<tr><td>{esc(label)}</td><td>{int(r.judged)}</td><td>{int(r.correct)}</td>"
                f"<td>{r.pass_rate:.0f} %</td><td>{r.hinted:.0f} %</td><td>{r.solution_shown:.0f} %</td></tr>"
                for label, r in rates.iterrows()
            ]
            parts.append(
                "</table><p>Judged: the answers attempted and judged. Not counted: a blank answer (still the "
                "starter code), an answer whose check itself broke, a file that is not a notebook, a notebook "
                "stopped or broken before its checks ran, a row to check by hand.</p>"
            )
    parts.append("<h2>What to re-teach: the most common wrong answers</h2>")
    judged = _judged(answers)
    wrong = judged[judged.verdict.isin(["incorrect", "error", "timeout"])]
    if wrong.empty:
        parts.append("<p>No wrong answers.</p>")
    for label in sorted(set(wrong.label), key=_order):
        group = wrong[wrong.label == label]
        counts = Counter(group["message"]).most_common(TOP_MESSAGES)
        parts.append(
            f"<h3>{esc(label)}: {len(group)} wrong</h3><table><tr><th>students</th><th>the check said</th></tr>"
        )
        parts += [f"<tr><td>{n}</td><td>{esc(message)}</td></tr>" for message, n in counts]
        parts.append("</table>")
    manual = answers[answers.verdict == "manual"]
    if not manual.empty:
        parts.append(
            "<h2>To mark by hand</h2><p>"
            + ", ".join(sorted(set(esc(q) for q in manual.question)))
            + ": written answers; fill their column in grades.csv.</p>"
        )
    parts.append("<h2>Grades</h2>")
    parts.append(table.to_html(index=False, escape=True, na_rep=""))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_gradebook(grades: Grades, out: Path, kind: str) -> Path:
    """Write ``gradebook-<kind>.csv`` into ``out``: one row per student, one column per sheet (the automatic points).

    ``canvas``: Canvas's gradebook import (Student, ID, SIS User ID, SIS Login ID, Section, then one column per
    sheet; a "Points Possible" row first). The student id goes into SIS Login ID, the others stay empty for
    Canvas to match. ``moodle``: Moodle's "Import grades from CSV" (``username``, then per sheet its points and a
    ``<sheet> feedback`` column). A sheet's cell is left empty where the row is not a grade to import as it is:
    a row to check by hand, two submissions for one student, a notebook that was not graded; the feedback
    (Moodle) or the report says why.
    """
    import csv

    if kind not in GRADEBOOKS:
        raise ValueError(f"gradebook must be one of {list(GRADEBOOKS)}, got {kind!r}")
    table = grades.grades_frame()
    sheets = sorted({str(s) for s in table["sheet"] if s}) if not table.empty else []
    cells: dict[str, dict[str, tuple[str, str]]] = {}
    maximum: dict[str, float] = {}
    for row in table.to_dict("records") if not table.empty else []:
        sheet = str(row["sheet"] or "")
        if not sheet:
            continue
        maximum[sheet] = max(maximum.get(sheet, 0.0), float(row["max_score"]))
        mine = cells.setdefault(str(row["student"]), {})
        blank = row["status"] in (CHECK_BY_HAND, "not a notebook", "wrong sheet") or not _judged_any(grades, row)
        value = "" if blank else f"{float(row['score']):g}"
        note = "; ".join(x for x in (row["status"], row["reason"], row["look_at"]) if x)[:500]
        if sheet in mine:  # two rows for one student and sheet: the teacher picks
            value, note = "", f"two submissions: see grades.csv ({note})"
        mine[sheet] = (value, note)
    path = out / f"gradebook-{kind}.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    safe = _safe_text
    if kind == "canvas":
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *sheets])
        writer.writerow(["Points Possible", "", "", "", "", *(f"{maximum[s]:g}" for s in sheets)])
        for student in sorted(cells):
            writer.writerow(
                [safe(student), "", "", safe(student), "", *(cells[student].get(s, ("", ""))[0] for s in sheets)]
            )
    else:
        header = ["username"]
        for sheet in sheets:
            header += [sheet, f"{sheet} feedback"]
        writer.writerow(header)
        for student in sorted(cells):
            row = [safe(student)]
            for sheet in sheets:
                value, note = cells[student].get(sheet, ("", ""))
                row += [value, safe(note)]
            writer.writerow(row)
    out.mkdir(parents=True, exist_ok=True)
    _write(path, buffer.getvalue().encode("utf-8"))
    return path


def _safe_text(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_START) else value


def _judged_any(grades: Grades, row: dict) -> bool:
    """True when at least one answer of this row was judged."""
    for result in grades.results:
        if result["file"] == row["file"] and result["student"] == row["student"]:
            return any(
                q["status"] != "manual" and not str(q.get("message", "")).startswith("not graded:")
                for q in result["questions"]
            )
    return False

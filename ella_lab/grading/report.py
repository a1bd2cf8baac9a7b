"""Write a class's grades: ``grades.csv``, ``answers.csv``, ``report.html`` (self-contained) and its figures as PNG."""

from __future__ import annotations

import base64
import html
import io
import os
from collections import Counter
from pathlib import Path

from .grade import Grades

__all__ = ["pass_rates", "write_outputs"]

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
    _write(paths["report"], _html(table, answers, figures, grades.skipped).encode("utf-8"))
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


def _judged(answers):
    """The answers that were judged (a broken file's are not: no misconception, no failed question), each with
    a ``label``: the question, or ``phase3 q1`` when the class handed in more than one sheet."""
    judged = answers[~answers.message.astype(str).str.startswith("not graded:")]
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
    if not table.empty and "score" in table:
        fig, ax = plt.subplots(figsize=(6, 3))
        top = float(table["max_score"].max() or 1)
        ax.hist(table["score"], bins=[i - 0.5 for i in range(int(top) + 2)], color="tab:green", rwidth=0.9)
        ax.set_xticks(range(int(top) + 1))
        ax.set(xlabel="score (automatic points)", ylabel="students", title="Distribution of totals")
        figures["totals"] = _png(fig)
    return figures


def _html(table, answers, figures: dict[str, bytes], skipped: list[str]) -> str:
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
    for name, title in (("pass_rate", "Pass rate"), ("totals", "Totals"), ("help_used", "Hints and solutions")):
        if name in figures:
            data = base64.b64encode(figures[name]).decode()
            parts.append(f"<h2>{title}</h2><img alt='{title}' src='data:image/png;base64,{data}'>")
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
                "</table><p>Judged: the answers the checks ran on (a file that is not a notebook, another sheet, "
                "a notebook stopped or broken before its checks ran are not counted).</p>"
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

"""Generate the student copies of the exercise notebooks from the instructor sources (``make student``).

In code cells, the lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` become ``# YOUR CODE HERE``
and a stub: the text after ``### BEGIN SOLUTION:``, or ``raise NotImplementedError``. In Markdown,
``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->`` becomes "*Your answer here.*". A live
``ex.q4.solution()`` line is commented out, so that Run All never shows a solution. Outputs are
cleared, and relative links gain one ``../`` (the copies live one folder down, in ``student/``).

    python -m ella_lab.tools.student notebooks/exercises           # write student/*.ipynb
    python -m ella_lab.tools.student notebooks/exercises --check   # exit 1 if a copy is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

BEGIN = re.compile(r"^(?P<indent>\s*)### BEGIN SOLUTION(?::\s*(?P<stub>.*\S))?\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
LIVE_SOLUTION = re.compile(r"^(?P<indent>\s*)(?P<call>[\w.]+\.solution\(\)\s*(?:#.*)?)$")
MD_SOLUTION = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->", re.S)
RELATIVE_LINK = re.compile(r"\]\((?!https?:|#|/)([^)]+)\)")


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
            live = LIVE_SOLUTION.match(line)
            out.append(f"{live.group('indent')}# {live.group('call')}" if live else line)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the folder of instructor notebooks")
    parser.add_argument("--check", action="store_true", help="write nothing; fail if a copy is out of date")
    args = parser.parse_args(argv)
    target = args.folder / "student"
    stale = []
    for instructor in sorted(args.folder.glob("*.ipynb")):
        copy, text = target / instructor.name, student_copy(instructor)
        if copy.exists() and copy.read_text() == text:
            continue
        stale.append(copy)
        if not args.check:
            target.mkdir(exist_ok=True)
            copy.write_text(text)
    for path in stale:
        print(f"{'out of date' if args.check else 'wrote'}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())

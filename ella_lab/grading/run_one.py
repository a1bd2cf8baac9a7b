"""Run one student notebook in a fresh kernel, then judge it: the grading process's child.

python -m ella_lab.grading.run_one NOTEBOOK --sheet phase3 --answers '{"q1": "makespan"}' --pid-file F --workdir D

Every cell runs (errors are kept, a cell past ``--cell-timeout`` is interrupted), then a last cell
re-judges the answers (``judge.py``). Prints one JSON line: the verdicts, and what happened in each
cell that raised or was cut off. The parent bounds the whole run and the memory (``grade.py``); it
kills the kernel through the pid written to ``--pid-file``, since a kernel runs in a session of its own.
The kernel's own stdout and stderr go nowhere: what the notebook writes there never mixes with that line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from .judge import MARK, guard_cell, judge_cell


def _kernel_manager_class() -> type:
    """An async kernel manager whose only kernel is this Python (``sys.executable -m ipykernel_launcher``).

    By name, ``python3`` is whatever kernel spec the machine has under that name first (a user-wide
    ``ipykernel install``, conda's base): another Python, without ella_lab, would run the class's notebooks.
    """
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
            return KernelSpec(argv=argv, display_name="Python (ella-lab grader)", language="python")

    class GraderKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _this_python(self) -> KernelSpecManager:
            return ThisPython()

    return GraderKernelManager


def run(
    path: Path,
    sheet: str,
    answers: dict[str, str],
    cell_timeout: int,
    pid_file: Path | None,
    workdir: Path,
    fallback: dict[str, list[str]] | None = None,
) -> dict:
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    for cell in code:
        cell.outputs, cell.execution_count = [], None
    judge = nbformat.v4.new_code_cell(judge_cell(sheet, answers, fallback))
    nb.cells = [nbformat.v4.new_code_cell(guard_cell()), *nb.cells, judge]
    problems: list[str] = []
    client = NotebookClient(
        nb,
        timeout=cell_timeout,
        kernel_name="python3",
        kernel_manager_class=_kernel_manager_class(),
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeout", "evalue": f"cell ran past {cell_timeout} s", "traceback": []},
        record_timing=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    began = time.perf_counter()
    try:
        with client.setup_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            if pid_file is not None:
                pid_file.write_text(str(client.km.provisioner.pid))
            started = time.perf_counter()
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            ran = time.perf_counter()
    except DeadKernelError:
        return {"status": "error", "reason": "the kernel died (out of memory, or the code ended the process)"}
    finally:
        if pid_file is not None:  # the kernel is shut down: nothing for the parent to kill
            pid_file.unlink(missing_ok=True)
    for number, cell in enumerate(code, 1):
        for output in cell.outputs:
            if output.get("output_type") != "error":
                continue
            name = output.get("ename")
            if name in ("CellTimeout", "KeyboardInterrupt"):  # the interrupt sent at the cell's deadline
                problems.append(f"code cell {number} ran past {cell_timeout} s and was interrupted")
            elif name == "MemoryError":
                problems.append(
                    f"code cell {number} ran out of memory; the checks after it may have failed for lack of it"
                )
            else:
                problems.append(f"code cell {number} raised {name}")
    text = "".join(o.get("text", "") for o in judge.outputs if o.get("output_type") == "stream")
    lines = [line for line in text.splitlines() if line.startswith(MARK)]
    if len(lines) > 1:  # the student's code wrote the marker too, while it was being judged
        reason = f"the notebook's code printed the grader's marker line while it was judged ({len(lines)} lines)"
        return {"status": "error", "reason": reason, "problems": problems, "tampered": ["the grader's output"]}
    if lines:
        result = json.loads(lines[0][len(MARK) :])
        result["problems"] = problems
        result["timing"] = {"kernel_s": started - began, "cells_s": ran - started}
        result["status"] = "error" if any("out of memory" in p for p in problems) else "graded"
        return result
    errors = [o for o in judge.outputs if o.get("output_type") == "error"]
    why = f"{errors[0].get('ename')}: {errors[0].get('evalue')}" if errors else "no verdicts were printed"
    return {"status": "error", "reason": f"the grading cell failed ({why})", "problems": problems}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--sheet", required=True)
    parser.add_argument("--answers", default="{}", help="JSON: question -> answer variable name")
    parser.add_argument("--fallback", default="{}", help="JSON: question -> the names the student's checks used")
    parser.add_argument("--cell-timeout", type=int, default=30)
    parser.add_argument("--pid-file", type=Path)
    parser.add_argument("--workdir", type=Path, required=True, help="the kernel's working folder (exists)")
    args = parser.parse_args(argv)
    try:
        answers = json.loads(args.answers)
        fallback = json.loads(args.fallback)
        result = run(args.notebook, args.sheet, answers, args.cell_timeout, args.pid_file, args.workdir, fallback)
    except Exception as exc:  # a notebook nbformat cannot read, a kernel that does not start
        result = {"status": "error", "reason": f"the notebook could not be run ({type(exc).__name__}: {exc})"[:300]}
    sys.stdout.write(MARK + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

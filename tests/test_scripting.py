"""ella_lab.scripting: the blocks notebook 05 shows from examples/main.py, and the programs it runs."""

from pathlib import Path

import pytest

from ella_lab.guide import run_guide_router
from ella_lab.scripting import checked_run, return_lines, run_cli, run_python, summary_value, top_level_blocks

MAIN = Path(__file__).parent.parent / "examples" / "main.py"


def test_top_level_blocks_finds_whole_blocks_in_the_order_asked(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(
        'import os\n\ndef b():\n    return 2\ndef a():\n\n    return 1\n\nif __name__ == "__main__":\n    a()\n',
        encoding="utf-8",
    )  # one blank line, none, two: blocks are found by parsing
    assert top_level_blocks(script, ["def a(", "if __name__", "def b("]) == [
        "def a():\n\n    return 1",
        'if __name__ == "__main__":\n    a()',
        "def b():\n    return 2",
    ]


def test_top_level_blocks_of_main_py_are_its_functions_and_guard():
    build, guard = top_level_blocks(MAIN, ["def build_chain(", 'if __name__ == "__main__":'])
    assert build.startswith("def build_chain(") and "return FallbackChain(" in build
    assert guard.startswith('if __name__ == "__main__":') and len(guard.splitlines()) >= 2


def test_top_level_blocks_refuses_a_missing_start_and_a_bare_string():
    with pytest.raises(ValueError, match="'def nowhere\\('"):
        top_level_blocks(MAIN, ["def nowhere("])
    with pytest.raises(TypeError, match="starts"):
        top_level_blocks(MAIN, "def main(")


def test_run_python_and_run_cli_keep_what_the_program_prints():
    done = run_python("-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)", timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
    refused = run_cli("demo", "--workers", "0", timeout=60)
    assert refused.returncode == 2 and "workers" in refused.stderr


def test_summary_value_reads_the_first_number_of_the_named_line():
    text = "requests        10\nthroughput      49.1 req/s (ideal 59.4 req/s)\nlatency p50     105 ms\n"
    assert summary_value(text, "throughput") == 49.1
    assert summary_value(text, "requests") == 10
    with pytest.raises(ValueError, match="'wall time'"):
        summary_value(text, "wall time")


def test_checked_run_returns_the_guide_run_with_every_result():
    run = checked_run(run_guide_router, 2, 4, latency=0.002, idle_timeout=0.02)  # claims judged inside
    assert len(run.results) == 4 and not run.lost
    with pytest.raises(TypeError, match="router"):
        checked_run("run_guide_router", 2, 4, latency=0.002, idle_timeout=0.02)


def test_return_lines_are_the_functions_returns_in_order(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(
        "def main():\n    if x:\n        return (\n            1\n        )\n    return 0\n\n\n"
        "def other():\n    return 5\n",
        encoding="utf-8",
    )
    assert return_lines(script, "main") == ["return (\n    1\n)", "return 0"]
    assert return_lines(script, "other") == ["return 5"]
    with pytest.raises(ValueError, match="'absent'"):
        return_lines(script, "absent")


def test_return_lines_of_main_py_give_its_exit_status():
    assert return_lines(MAIN, "main") == ["return 0 if not report.failed else 1"]

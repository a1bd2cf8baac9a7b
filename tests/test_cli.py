import subprocess
import sys

import pytest

from ella_lab.cli import main


def test_demo_prints_every_outcome_and_a_summary(capsys):
    assert main(["demo", "--latency", "0.01"]) == 0
    out = capsys.readouterr().out
    for i in range(10):
        assert f"'DataRequest-{i}' -> ok from primary" in out
    assert "requests        10" in out and "wall time" in out and "latency p99" in out


def test_demo_with_backups(capsys):
    main(["demo", "--latency", "0", "--failure-rate", "0.5", "--chain", "2", "--requests", "40"])
    out = capsys.readouterr().out
    assert "ok from backup-1" in out


def test_sweep_writes_csv_and_png(tmp_path, capsys):
    csv, png = tmp_path / "out.csv", tmp_path / "out.png"
    main(
        [
            "sweep",
            "--workers",
            "1,2",
            "--failure-rate",
            "0,0.5",
            "--requests",
            "20",
            "--latency",
            "0.001",
            "--csv",
            str(csv),
            "--plot",
            str(png),
        ]
    )
    out = capsys.readouterr().out
    assert "throughput_rps" in out and "success_rate" in out
    import pandas as pd

    df = pd.read_csv(csv)
    assert len(df) == 4 and set(df.workers) == {1, 2}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--workers", "0"], "workers must be >= 1, got 0"),
        (["demo", "--failure-rate", "2"], "failure_rate must be a finite number in [0, 1], got 2.0"),
        (["demo", "--latency", "-1"], "latency must be a finite number >= 0, got -1.0"),
        (["sweep", "--workers", "1,x"], "expected comma-separated ints"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message):
    proc = subprocess.run([sys.executable, "-m", "ella_lab", *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help():
    proc = subprocess.run([sys.executable, "-m", "ella_lab", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "demo" in proc.stdout and "sweep" in proc.stdout


def test_check_reports_every_item(capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "[ok] Python >= 3.11" in out and "[ok] ella_lab Router runs" in out and "FAIL" not in out

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
        (["demo", "--latency", "-1"], "latency must be a finite number in [0, 60], got -1.0"),
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
    # the machine's noise is reported either way, and a busy machine does not fail the check
    assert "quiet enough for measured claims:" in out.splitlines()[-1]


def _cli(*argv, cwd=None, timeout=60):
    """``python -m ella_lab argv`` in a child whose memory is capped at 2 GiB (a runaway allocation fails fast)."""
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    return subprocess.run(
        [sys.executable, "-m", "ella_lab", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        preexec_fn=cap,
    )


def _one_line_exit_2(proc, *words):
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr[-2000:]
    for word in words:
        assert word in proc.stderr


# a sweep that would take 50 s if it started: a check that comes after the work fails on the test's timeout
_SLOW_SWEEP = ["sweep", "--workers", "1", "--requests", "10", "--latency", "5"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("argv", "words"),
    [
        # issue 18: accepted, then allocated until MemoryError
        (["demo", "--requests", "99999999999999999999999999"], ["--requests", "requests must be <= 100000"]),
        (["demo", "--chain", "100000000"], ["--chain", "chain must be <= 100"]),
        (["demo", "--workers", "100000000"], ["--workers", "workers must be <= 1000"]),
        (["demo", "--latency", "1e300"], ["--latency", "latency must be a finite number in [0, 60]"]),
        (["demo", "--latency", "nan"], ["--latency", "finite"]),
        (["demo", "--seed", "1" + "0" * 40], ["--seed"]),
        # the bound itself, not 9.22337e+18 (which reads as less than the 2**63 refused)
        (["demo", "--seed", str(2**63)], ["--seed", f"seed must be <= {2**63 - 1}, got {2**63}"]),
        (["sweep", "--workers", "1,100000000"], ["--workers", "workers must be <= 1000"]),
        (["sweep", "--repeats", "10000000"], ["--repeats", "repeats must be <= 100"]),
        (["sweep", "--requests", "1" + "0" * 30], ["--requests"]),
        (["serve", "--port", "70000"], ["--port", "port must be <= 65535"]),
        (["serve", "--duration", "1e300"], ["--duration"]),
    ],
)
def test_every_number_has_a_sane_range(argv, words):
    _one_line_exit_2(_cli(*argv), *words)


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("option", "path", "words"),
    [
        ("--plot", "out.txt", ["--plot", ".png"]),  # issue 18: ran the sweep, then a 23-31 line traceback
        ("--plot", "out.png/", ["--plot", "folder"]),
        ("--csv", "/proc/nope.csv", ["--csv", "/proc/nope.csv"]),
        ("--csv", "/dev/full", ["--csv", "regular file"]),
        ("--csv", "no/such/folder/out.csv", ["--csv", "does not exist"]),
        ("--plot", ".", ["--plot", "folder"]),
    ],
)
def test_output_paths_are_checked_before_any_work(tmp_path, option, path, words):
    _one_line_exit_2(_cli(*_SLOW_SWEEP, option, path, cwd=tmp_path), *words)
    assert not (tmp_path / "out.txt").exists() and not (tmp_path / "out.png").exists()  # nothing left behind


@pytest.mark.timeout(120)
def test_grade_out_is_checked_before_grading(tmp_path):
    """issue 18: grade . --out /proc/x graded the class, then printed a traceback."""
    _one_line_exit_2(_cli("grade", str(tmp_path), "--out", "/proc/x"), "--out", "/proc/x")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("option", ["--csv", "--plot"])
def test_an_empty_output_path_is_refused_before_any_work(tmp_path, option):
    """``--csv "$OUT"`` with ``OUT`` unset: refused and named as empty (it said: got the folder '')."""
    _one_line_exit_2(_cli(*_SLOW_SWEEP, option, "", cwd=tmp_path), option, "empty")
    assert list(tmp_path.iterdir()) == []


def test_check_writable_helpers_refuse_an_empty_path():
    """``grade --out "$OUT"`` with ``OUT`` unset must not grade into the current folder; the helper refuses it."""
    from ella_lab.cli import check_writable_dir, check_writable_file

    for check in (check_writable_dir, check_writable_file):
        with pytest.raises(ValueError, match="--out is empty"):
            check("--out", "")


def test_check_writable_helpers_leave_nothing_behind(tmp_path):
    from ella_lab.cli import check_writable_dir, check_writable_file

    check_writable_file("--csv", str(tmp_path / "a.csv"))
    check_writable_dir("--out", str(tmp_path / "new" / "folder"))
    assert list(tmp_path.iterdir()) == []  # checked by trying, then undone
    (tmp_path / "kept.csv").write_text("x")
    check_writable_file("--csv", str(tmp_path / "kept.csv"))
    assert (tmp_path / "kept.csv").read_text() == "x"  # an existing file is not truncated by the check
    with pytest.raises(ValueError, match="--out"):
        check_writable_dir("--out", str(tmp_path / "kept.csv"))
    with pytest.raises(ValueError, match="--csv"):
        check_writable_file("--csv", str(tmp_path))


def test_a_write_that_fails_after_the_work_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    """A disk that fills up while the sweep runs: the table is shown, then one line, not a traceback."""
    import errno

    import pandas as pd

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(SystemExit) as info:
        main(["sweep", "--workers", "1", "--requests", "2", "--latency", "0", "--csv", str(tmp_path / "t.csv")])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert "throughput_rps" in captured.out
    assert captured.err.strip().splitlines() == [
        f"python -m ella_lab: error: --csv: could not write {str(tmp_path / 't.csv')!r}: No space left on device"
    ]


@pytest.mark.timeout(60)
def test_serve_on_a_port_in_use_is_one_line_and_exit_2():
    """A second ``serve --port N`` (the first still running): 'Address already in use' was a 20-line traceback."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _one_line_exit_2(_cli("serve", "--port", str(port), "--duration", "0.1"), "--port", str(port))


@pytest.mark.parametrize("command", [["grade", "tests/fixtures/demo_class"], ["handout"]])
def test_an_empty_out_folder_is_refused_not_taken_for_the_current_one(command, capsys):
    # `grade ... --out "$OUT"` with OUT unset graded into the current folder (Path("") is ".")
    with pytest.raises(SystemExit) as stop:
        main([*command, "--out", ""])
    assert stop.value.code == 2 and "must name a folder" in capsys.readouterr().err

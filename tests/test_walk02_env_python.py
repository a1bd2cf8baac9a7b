"""Notebook 02 q2 (env_python): the check judges the layout of the system it runs on, Windows included.

On Windows a venv keeps its interpreter in ``Scripts\\python.exe``; the check used to ask every system for the
POSIX path and require it to exist, so no answer could pass there. Windows is played here by patching
``sys.platform`` (what the check reads) and giving each venv the Windows layout.
"""

import shutil
import sys
from pathlib import Path

import pytest

from ella_lab.exercises import walk02

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(sys.platform == "win32", reason="plays Windows on a POSIX venv"),
]


def reference(env_dir, windows=False):
    if windows:
        return Path(env_dir) / "Scripts" / "python.exe"
    return Path(env_dir) / "bin" / "python"


def windows_layout(monkeypatch, module=walk02):
    """Every venv the check makes gets Scripts/python.exe (a link to the base Python, as bin/python was)."""
    real = module.make_env

    def make_env(folder, name="ella_env"):
        env = real(folder, name)
        (env / "Scripts").mkdir()
        (env / "Scripts" / "python.exe").symlink_to((env / "bin" / "python").resolve())
        shutil.rmtree(env / "bin")
        return env

    monkeypatch.setattr(module, "make_env", make_env)
    monkeypatch.setattr(sys, "platform", "win32")


def test_the_reference_passes_on_windows(monkeypatch):
    windows_layout(monkeypatch)
    assert walk02.on_windows()
    for result in (walk02.q2.check(reference), walk02.q2.hidden_check(reference)):
        assert result.status == "correct", result.message


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda e, windows=False: Path(e) / "bin" / "python", "Scripts, not bin"),  # forgot Windows
        (lambda e, windows=False: Path(e) / ("Scripts" if windows else "bin") / "python", "python.exe"),
        (lambda e, windows=False: Path(e) / ("Scripts" if windows else "bin"), "that is the folder"),
        (lambda e, windows=False: Path(e) / "Scripts" / "python.exe", "in bin, not Scripts"),  # forgot POSIX
        (lambda e, windows=False: Path(e) / "python.exe", "in its Scripts folder"),
    ],
    ids=["bin on Windows", "no .exe", "the folder", "Scripts everywhere", "top of the env"],
)
def test_wrong_answers_are_named_on_windows(monkeypatch, answer, words):
    windows_layout(monkeypatch)
    for result in (walk02.q2.check(answer), walk02.q2.hidden_check(answer)):
        assert result.status == "incorrect" and words in result.message, result.message


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda e, windows=False: Path(e) / ("Scripts" if windows else "bin"), "that is the folder; the program"),
        (lambda e, windows=False: reference(e, windows).resolve(), "resolve() follows the link out of the venv"),
    ],
    ids=["env/bin", "resolve()"],
)
def test_the_folder_and_a_resolved_link_are_named(answer, words):
    # before: "the interpreter is not at the top of the environment, but in its bin folder" for env/bin, and
    # "runs, but its sys.prefix is <base>" for resolve(), which did not say why
    for result in (walk02.q2.check(answer), walk02.q2.hidden_check(answer)):
        assert result.status == "incorrect" and words in result.message, result.message

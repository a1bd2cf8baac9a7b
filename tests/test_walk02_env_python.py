"""Notebook 02 q2 (env_python): the check judges the layout of the system it runs on, Windows included.

On Windows a venv keeps its interpreter in ``Scripts\\python.exe``; the check used to ask every system for the
POSIX path and require it to exist, so no answer could pass there. Windows is played here by patching
``sys.platform`` (what the check reads) and giving each venv the Windows layout.
"""

import os.path
import shutil
import sys
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

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


def pure_paths(env_dir, windows=False):  # os.PathLike, not Path: "should return a path (str or Path)" before
    return PureWindowsPath(env_dir, "Scripts", "python.exe") if windows else PurePosixPath(env_dir, "bin", "python")


def pure_path(env_dir, windows=False):
    return PurePath(env_dir, *(("Scripts", "python.exe") if windows else ("bin", "python")))


def made_absolute(env_dir, windows=False):  # right on both systems; on Linux it put this folder in front of C:
    return Path(env_dir).absolute() / ("Scripts" if windows else "bin") / ("python.exe" if windows else "python")


def sniffs_a_drive(env_dir, windows=False):  # ignores `windows`: guesses the system from a drive colon
    win = ":" in str(env_dir)
    return Path(env_dir) / ("Scripts" if win else "bin") / ("python.exe" if win else "python")


@pytest.mark.parametrize(
    ("answer", "plays"),
    [(pure_paths, (False,)), (pure_path, (False, True)), (made_absolute, (False, True))],
    ids=["Pure*Path", "PurePath", "absolute()"],
)
def test_right_answers_written_other_ways_pass(monkeypatch, answer, plays):
    # each was rejected before: pure paths as not a path, absolute() as "...\work\main\C:\...: not inside the env".
    # (A PureWindowsPath of this POSIX temp folder is no path here, so Pure*Path is not played on Windows.)
    for play_windows in plays:
        if play_windows:
            windows_layout(monkeypatch)
        for result in (walk02.q2.check(answer), walk02.q2.hidden_check(answer)):
            assert result.status == "correct", (play_windows, result.message)


def flag_or_a_colon(env_dir, windows=False):  # reads `windows`, but also takes any colon for a drive
    win = windows or ":" in str(env_dir)
    return Path(env_dir) / ("Scripts" if win else "bin") / ("python.exe" if win else "python")


def test_an_answer_that_guesses_the_system_from_a_colon_is_rejected(monkeypatch):
    # both passed before: every Windows env_dir had a drive colon, and no Linux one had a colon
    for result in (walk02.q2.check(sniffs_a_drive), walk02.q2.hidden_check(sniffs_a_drive)):
        assert result.status == "incorrect" and "Scripts, not bin" in result.message, result.message  # no drive
    windows_layout(monkeypatch)  # on Windows, the Linux env_dir with a colon is judged by its path
    for result in (walk02.q2.check(flag_or_a_colon), walk02.q2.hidden_check(flag_or_a_colon)):
        assert result.status == "incorrect" and "in bin, not Scripts" in result.message, result.message


def test_a_path_not_inside_the_env_is_still_rejected():
    for answer in (
        lambda e, windows=False: Path("C:/other") / ("Scripts/python.exe" if windows else "bin/python")
        if windows else Path(e) / "bin" / "python",
        lambda e, windows=False: Path(e) / ("Scripts/python.exe" if windows else "bin/python") if not windows
        else Path(e).parent / "Scripts" / "python.exe",
    ):
        result = walk02.q2.check(answer)
        assert result.status == "incorrect" and "not inside the env" in result.message, result.message


# -- review 02 (A3): answers that put something in front of env_dir ----------------------------------------------
# Each passed BOTH checks before (seen): the other system's path was matched on the env's parts anywhere in it,
# and on Linux the Linux env_dirs were never judged (only the venv made here, an absolute temp folder).


def home_in_front(env_dir, windows=False):  # Path.home() / "/tmp/..." is /tmp/...: only the temp venv was judged
    return Path.home() / env_dir / ("Scripts/python.exe" if windows else "bin/python")


def a_drive_in_front(env_dir, windows=False):
    return "C:\\" + env_dir + "\\Scripts\\python.exe" if windows else env_dir + "/bin/python"


FALSE_ACCEPTS = [
    (home_in_front, "in front of env_dir"),
    (a_drive_in_front, "in front of env_dir"),
    (flag_or_a_colon, "in bin, not Scripts"),  # /srv/c:/ella_env is now judged on Linux too
]


@pytest.mark.parametrize(("answer", "words"), FALSE_ACCEPTS, ids=["Path.home() /", "'C:\\\\' +", "windows or ':'"])
def test_an_answer_that_adds_to_env_dir_or_sniffs_a_colon_is_rejected_on_linux(answer, words):
    for result in (walk02.q2.check(answer), walk02.q2.hidden_check(answer)):
        assert result.status == "incorrect" and words in result.message, result.message


def joined_by_os_path(env_dir, windows=False):
    return os.path.join(env_dir, *(("Scripts", "python.exe") if windows else ("bin", "python")))


def cwd_joined(env_dir, windows=False):  # Path.cwd() / "C:/x" is C:/x on Windows; here it stands for absolute()
    return Path.cwd() / env_dir / ("Scripts" if windows else "bin") / ("python.exe" if windows else "python")


def dot_in_front(env_dir, windows=False):  # ./ella_env: the current folder, written as a dot
    return os.path.join(".", env_dir, *(("Scripts", "python.exe") if windows else ("bin", "python")))


@pytest.mark.parametrize(
    "answer", [reference, joined_by_os_path, made_absolute, cwd_joined, dot_in_front],
    ids=["reference", "os.path.join", "absolute()", "Path.cwd() /", "./"],
)  # fmt: skip
def test_right_answers_keep_passing_both_checks(monkeypatch, answer):
    for play_windows in (False, True):
        if play_windows:
            windows_layout(monkeypatch)
        for result in (walk02.q2.check(answer), walk02.q2.hidden_check(answer)):
            assert result.status == "correct", (play_windows, result.message)


# -- review 02 (A4): env_dir is a str ------------------------------------------------------------------------------


def test_slashes_on_the_str_env_dir_are_told_to_wrap_it():
    # before: "your answer raised TypeError("unsupported operand type(s) for /: 'str' and 'str'")"
    def str_slash(env_dir, windows=False):
        return env_dir / ("Scripts" if windows else "bin") / ("python.exe" if windows else "python")

    for result in (walk02.q2.check(str_slash), walk02.q2.hidden_check(str_slash)):
        assert result.status == "incorrect" and "env_dir is a str: wrap it, Path(env_dir)" in result.message, (
            result.message
        )


# -- review 02 (A9): q1's prediction as text -----------------------------------------------------------------------


def test_a_prediction_written_as_text_is_told_to_be_a_number():
    # before: "give a whole number of packages, like 3; got '0'" (the example primed a wrong count)
    for text in ("0", "zero"):
        result = walk02.q1.judge(text)
        assert result.status == "incorrect" and "a number, not text" in result.message, result.message
        assert "like 3" not in result.message
    assert walk02.q1.judge(0).status == "correct"


# -- review 02b: each seen on the old check (c72e7c1..e06d5aa), visible and hidden ----------------------------------


def drive_guess(env_dir, windows=False):  # takes a drive-shaped env_dir for Windows, whatever `windows` says
    if windows or PureWindowsPath(env_dir).drive:
        return PureWindowsPath(env_dir, "Scripts", "python.exe")
    return Path(env_dir, "bin", "python")


def colon_at_1(env_dir, windows=False):
    if windows or "\\" in env_dir or env_dir[1] == ":":
        return Path(env_dir) / "Scripts" / "python.exe"
    return Path(env_dir) / "bin" / "python"


def getcwd_plus(env_dir, windows=False):  # a string built on the current folder: os.getcwd() + "/" + env_dir
    if windows:
        return Path(env_dir) / "Scripts" / "python.exe"
    return os.getcwd() + "/" + env_dir + "/bin/python"


def sys_prefix(env_dir, windows=False):  # this kernel's environment, not env_dir's
    if windows:
        return Path(env_dir) / "Scripts" / "python.exe"
    return Path(sys.prefix) / "bin/python"


def home_for_windows(env_dir, windows=False):  # a Linux home in front of the Windows env_dir
    if windows:
        return Path.home() / env_dir / "Scripts" / "python.exe"
    return Path(env_dir) / "bin" / "python"


# (answer, what the old check said, words the new one must say); the old check accepted the first two (false
# accepts: the only POSIX env_dirs with a colon had it past position 1) and named the last three wrongly
REVIEW_02B = [
    (drive_guess, "correct", "windows is False here, whatever env_dir looks like"),
    (colon_at_1, "correct", "windows is False here, whatever env_dir looks like"),
    (getcwd_plus, "does not exist", "puts /"),  # now: it puts the current folder in front of env_dir
    (sys_prefix, "(sys.executable)", "is this kernel's python, the one running this notebook, not the one inside"),
    (home_for_windows, "puts \\", f"puts {Path.home()} in front of env_dir"),  # was \root for /root
]


@pytest.mark.parametrize(("answer", "old", "words"), REVIEW_02B, ids=[a.__name__ for a, _, _ in REVIEW_02B])
def test_review_02b_wrong_answers_are_rejected_and_named(answer, old, words):
    for result in (walk02.q2.check(answer), walk02.q2.hidden_check(answer)):
        assert result.status == "incorrect" and words in result.message, result.message
    if answer is getcwd_plus:
        assert "does not exist" not in walk02.q2.check(answer).message


def test_review_02b_a_drive_guesser_is_rejected_when_windows_is_played(monkeypatch):
    # (drive_guess's PureWindowsPath of this POSIX temp folder is no path here, so it is not played on Windows)
    windows_layout(monkeypatch)
    for result in (walk02.q2.check(colon_at_1), walk02.q2.hidden_check(colon_at_1)):
        assert result.status == "incorrect" and "in bin, not Scripts" in result.message, result.message


def versioned(env_dir, windows=False):  # python3.N: only in a venv made from Python 3.N (review 02d A1)
    if windows:
        return Path(env_dir) / "Scripts" / "python.exe"
    return Path(env_dir) / f"bin/python{sys.version_info.major}.{sys.version_info.minor}"


def f_string(env_dir, windows=False):
    return f"{env_dir}\\Scripts\\python.exe" if windows else f"{env_dir}/bin/python"


@pytest.mark.parametrize(
    ("answer", "plays"),
    [(reference, (False, True)), (f_string, (False,)), (joined_by_os_path, (False, True))],
    ids=["reference", "f-string", "os.path"],
)  # (a backslash is no separator on this POSIX temp folder, so the f-string is not played on Windows)
def test_review_02b_right_answers_pass_both_checks_on_both_systems(monkeypatch, answer, plays):
    for play_windows in plays:
        if play_windows:
            windows_layout(monkeypatch)
        for result in (walk02.q2.check(answer), walk02.q2.hidden_check(answer)):
            assert result.status == "correct", (play_windows, result.message)


def test_a_posix_name_that_is_not_python_is_still_rejected():
    def pythonw(env_dir, windows=False):  # right for the venv made here, python3.x for the others
        if windows or Path(env_dir).exists():
            return Path(env_dir) / ("Scripts/python.exe" if windows else "bin/python")
        return Path(env_dir) / "bin/python3.x"

    result = walk02.q2.check(pythonw)
    assert result.status == "incorrect" and "expected .../bin/python (or python3)" in result.message, result.message


# -- review 02c (A1, A2): each passed BOTH checks before (seen on c72e7c1..56fa962), on Linux and with Windows played --
# A1: on Linux, Path(env_dir) / "\\Scripts\\python.exe" reads C:/class/ella_env/\Scripts\python.exe, whose names split
# on either slash are right; on Windows the same code gives C:\Scripts\python.exe (a part starting with \ is rooted).
# A2: only Windows env_dirs held a backslash, and every env_dir was lower-case.


def backslash_rooted(env_dir, windows=False):
    return Path(env_dir) / "\\Scripts\\python.exe" if windows else Path(env_dir) / "bin" / "python"


def backslash_rooted_join(env_dir, windows=False):
    return os.path.join(env_dir, "\\Scripts", "python.exe") if windows else os.path.join(env_dir, "bin", "python")


def backslash_means_windows(env_dir, windows=False):
    windows = windows or "\\" in env_dir
    return Path(env_dir) / ("Scripts/python.exe" if windows else "bin/python")


def lower_cased(env_dir, windows=False):
    return Path(env_dir.lower()) / ("Scripts/python.exe" if windows else "bin/python")


ROOTED = "a part starting with \\ is a root on Windows: env_dir is lost"
REVIEW_02C = [
    (backslash_rooted, ROOTED, ROOTED),  # (answer, words on Linux, words with Windows played)
    (backslash_rooted_join, ROOTED, ROOTED),
    (backslash_means_windows, "windows is False here, whatever env_dir looks like", "in bin, not Scripts"),
    (lower_cased, "Linux and macOS tell capital letters apart", "Linux and macOS tell capital letters apart"),
]


@pytest.mark.parametrize(("answer", "linux", "windows"), REVIEW_02C, ids=[a.__name__ for a, _, _ in REVIEW_02C])
@pytest.mark.parametrize("play_windows", [False, True], ids=["linux", "windows played"])
def test_review_02c_false_accepts_are_rejected_and_named(monkeypatch, answer, linux, windows, play_windows):
    if play_windows:
        windows_layout(monkeypatch)
    words = windows if play_windows else linux
    for result in (walk02.q2.check(answer), walk02.q2.hidden_check(answer)):
        assert result.status == "incorrect" and words in result.message, result.message


def test_review_02c_the_rooted_part_is_shown_as_windows_reads_it():
    message = walk02.q2.check(backslash_rooted).message
    assert "gave C:/class/ella_env/\\Scripts\\python.exe" in message
    assert "the join gives C:\\Scripts\\python.exe" in message


def separate_names(env_dir, windows=False):  # one name per argument
    return Path(env_dir, "Scripts", "python.exe") if windows else Path(env_dir, "bin", "python")


def str_plus_slashes(env_dir, windows=False):  # forward slashes work on Windows too
    return env_dir + ("/Scripts/python.exe" if windows else "/bin/python")


@pytest.mark.parametrize(
    "answer", [reference, joined_by_os_path, separate_names, str_plus_slashes, made_absolute],
    ids=["reference", "os.path.join", "Path(a, b, c)", "str + '/'", "absolute()"],
)  # fmt: skip
@pytest.mark.parametrize("play_windows", [False, True], ids=["linux", "windows played"])
def test_review_02c_right_answers_keep_passing_both_checks(monkeypatch, answer, play_windows):
    if play_windows:
        windows_layout(monkeypatch)
    for result in (walk02.q2.check(answer), walk02.q2.hidden_check(answer)):
        assert result.status == "correct", result.message


def test_review_02c_a_backslash_in_a_windows_env_dir_or_between_names_is_no_root():
    # f"{env_dir}\\Scripts\\python.exe" on the share \\server\share\ella_env: backslashes, but none after a slash
    assert walk02.q2.check(f_string).status == "correct"
    walk02.EnvPython._judge_windows("C:/class/ella_env\\Scripts\\python.exe", "C:/class/ella_env")
    walk02.EnvPython._judge_windows(r"\\server\share\ella_env/Scripts/python.exe", r"\\server\share\ella_env")


# -- review 02d (A1, A6) --------------------------------------------------------------------------------------------
# A1: bin/python3.11 passed both checks (seen on c692610, on Linux and with Windows played): the path-only judge took
# any python3.N, and the venv made here is made from 3.11; a venv made from 3.12 holds python3.12, no python3.11.
# A6: os.path.relpath(...) was told "... is not inside the environment" (from a folder beside /tmp) or "it puts ../..
# in front of env_dir": it is inside, but written from the current folder.


def relative_to_here(env_dir, windows=False):
    return os.path.relpath(Path(env_dir) / ("Scripts/python.exe" if windows else "bin/python"))


def other_minor(env_dir, windows=False):  # a version this venv was not made from
    return Path(env_dir) / ("Scripts/python.exe" if windows else f"bin/python3.{sys.version_info.minor + 1}")


MINOR, NEXT = sys.version_info.minor, sys.version_info.minor + 1
REVIEW_02D = [
    # (answer, what the old check said on Linux, and with Windows played; words the new one must say), seen on c692610
    (versioned, "correct", "correct", f"python3.{MINOR} is only in a venv made from Python 3.{MINOR}"),
    (other_minor, "does not exist", "correct", f"python3.{NEXT} is only in a venv made from Python 3.{NEXT}"),
    (relative_to_here, "in front of env_dir", "in front of env_dir", "is relative to the current folder"),
]


@pytest.mark.parametrize(("answer", "linux", "windows", "words"), REVIEW_02D, ids=[r[0].__name__ for r in REVIEW_02D])
@pytest.mark.parametrize("play_windows", [False, True], ids=["linux", "windows played"])
def test_review_02d_answers_are_rejected_and_named(monkeypatch, answer, linux, windows, words, play_windows):
    if play_windows:
        windows_layout(monkeypatch)
    for result in (walk02.q2.check(answer), walk02.q2.hidden_check(answer)):
        assert result.status == "incorrect" and words in result.message, result.message
        assert (windows if play_windows else linux) not in result.message, result.message


def test_review_02d_a_versioned_name_is_told_which_names_count():
    message = walk02.q2.check(versioned).message
    assert "name python or python3, which every venv on Linux and macOS holds" in message, message


def python3_join(env_dir, windows=False):  # python3: in every venv on Linux and macOS
    return os.path.join(env_dir, *(("Scripts", "python.exe") if windows else ("bin", "python3")))


def python3_format(env_dir, windows=False):
    return ("{}\\Scripts\\python.exe" if windows else "{}/bin/python3").format(env_dir)


def python_joinpath(env_dir, windows=False):
    layout = {True: ("Scripts", "python.exe"), False: ("bin", "python")}
    return str(Path(env_dir).joinpath(*layout[bool(windows)]))


@pytest.mark.parametrize(
    ("answer", "plays"),
    [(python3_join, (False, True)), (python3_format, (False,)), (python_joinpath, (False, True)),
     (reference, (False, True)), (str_plus_slashes, (False, True))],
    ids=["os.path.join python3", "format python3", "joinpath dict", "reference", "str + '/'"],
)  # fmt: skip  (a backslash is no separator on this POSIX temp folder, so the format one is not played on Windows)
def test_review_02d_right_answers_keep_passing_both_checks(monkeypatch, answer, plays):
    for play_windows in plays:
        if play_windows:
            windows_layout(monkeypatch)
        for result in (walk02.q2.check(answer), walk02.q2.hidden_check(answer)):
            assert result.status == "correct", (play_windows, result.message)


def test_review_02d_the_task_names_the_interpreters_that_count():
    task = walk02.q2.hints[1]
    assert "python or python3" in task and "python3.11" in task


# -- review 02f (A6, A7): each told the old message, seen on the old check ------------------------------------------


def windows_branch_only(env_dir, windows=False):  # was "did you print the path instead of returning it?"
    if windows:
        return Path(env_dir) / "Scripts" / "python.exe"


def always_windows(env_dir, windows=False):  # was "... is not inside the environment ...: build it from env_dir."
    return PureWindowsPath(env_dir) / "Scripts" / "python.exe"


def no_windows_parameter(env_dir):  # was a bare TypeError: "takes 1 positional argument but 2 were given"
    return Path(env_dir) / "bin" / "python"


def printed(env_dir, windows=False):  # the print slip keeps its own message
    print(reference(env_dir, windows))


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (windows_branch_only, "returned None for windows=False: is there a return for Linux and macOS?"),
        (always_windows, "is the Windows layout, written with backslashes; with windows=False (Linux and macOS)"),
        (no_windows_parameter, "add the windows=False parameter"),
        (printed, "did you print the path instead of returning it?"),
    ],
    ids=["no Linux branch", "PureWindowsPath always", "one parameter", "printed"],
)
def test_review_02f_q2_slips_are_named(answer, words):
    for result in (walk02.q2.check(answer), walk02.q2.hidden_check(answer)):
        assert result.status == "incorrect" and words in result.message, result.message


def test_review_02f_a_linux_branch_only_is_named_when_windows_is_played(monkeypatch):
    windows_layout(monkeypatch)

    def linux_branch_only(env_dir, windows=False):
        if not windows:
            return Path(env_dir) / "bin" / "python"

    result = walk02.q2.check(linux_branch_only)
    assert result.status == "incorrect" and "None for windows=True: is there a return for Windows?" in result.message


@pytest.mark.parametrize(
    ("value", "words"),
    [(False, "False is a bool (True or False), not a count"), (0.5, "0.5: give a whole number of distributions")],
)
def test_review_02f_q1_a_bool_and_a_fraction_are_named(value, words):
    result = walk02.q1.judge(value)
    assert result.status == "incorrect" and words in result.message, result.message


# -- review 02g (A1) ------------------------------------------------------------------------------------------------
# An answer that reads which system it runs on, beside `windows`, passed on Linux (sys.platform is not win32 there)
# and was rejected on Windows ("in bin, not Scripts"): the verdict hung on the OS. Seen on 8832333: "correct" on
# Linux, "incorrect" with Windows played. The check now also runs the answer as if on the other system.


def platform_or_flag(env_dir, windows=False):
    w = windows or sys.platform == "win32"
    return Path(env_dir) / ("Scripts" if w else "bin") / ("python.exe" if w else "python")


def os_name_or_flag(env_dir, windows=False):
    w = windows or os.name == "nt"
    return Path(env_dir) / ("Scripts" if w else "bin") / ("python.exe" if w else "python")


def imports_platform(env_dir, windows=False):  # an import inside the function, platform.system()
    import platform

    w = windows or platform.system() == "Windows"
    return Path(env_dir) / ("Scripts" if w else "bin") / ("python.exe" if w else "python")


def platform_for_posix_only(env_dir, windows=False):  # Windows when asked; else whatever this system is
    if windows:
        return Path(env_dir) / "Scripts" / "python.exe"
    from sys import platform

    return Path(env_dir) / ("Scripts/python.exe" if platform == "win32" else "bin/python")


READS_THE_SYSTEM = [platform_or_flag, os_name_or_flag, imports_platform, platform_for_posix_only]


@pytest.mark.parametrize("answer", READS_THE_SYSTEM, ids=[a.__name__ for a in READS_THE_SYSTEM])
@pytest.mark.parametrize("play_windows", [False, True], ids=["linux", "windows played"])
def test_review_02g_an_answer_that_reads_the_system_gets_the_same_verdict_everywhere(monkeypatch, answer, play_windows):
    if play_windows:
        windows_layout(monkeypatch)
    for result in (walk02.q2.check(answer), walk02.q2.hidden_check(answer)):
        assert result.status == "incorrect", result.message
        assert "reads which system it runs on" in result.message and "`windows` alone" in result.message, result.message


def reads_the_system_harmlessly(env_dir, windows=False):  # reads it, but the layout still follows `windows`
    _ = sys.platform, os.name
    return reference(env_dir, windows)


@pytest.mark.parametrize("play_windows", [False, True], ids=["linux", "windows played"])
def test_review_02g_reading_the_system_without_acting_on_it_passes(monkeypatch, play_windows):
    if play_windows:
        windows_layout(monkeypatch)
    for result in (walk02.q2.check(reads_the_system_harmlessly), walk02.q2.hidden_check(reads_the_system_harmlessly)):
        assert result.status == "correct", result.message
    assert sys.platform == ("win32" if play_windows else "linux") and os.name == "posix"  # nothing left patched

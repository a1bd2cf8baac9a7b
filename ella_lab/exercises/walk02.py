"""The "Your turn" exercises of notebook 02, the environment: ``from ella_lab.exercises import walk02 as ex``.

q1 predicts what a fresh virtual environment can import (then makes one and counts); q2 finds an
environment's own ``python`` without activating it, the way ``make`` does, and runs it.
"""

from __future__ import annotations

import builtins
import importlib.metadata
import inspect
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path, PureWindowsPath
from typing import Any

from ._core import BLANK, Incorrect, Question, as_real, call_bounded

__all__ = ["BLANK", "____", "fresh_env_packages", "q1", "q2"]

____ = BLANK


def make_env(folder: Path, name: str = "ella_env") -> Path:
    """``python3 -m venv --without-pip folder/name``, bounded; returns the environment's folder."""
    env = folder / name
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=60)
    return env


def posix_python(env: Path) -> Path:
    return env / "bin" / "python"


def on_windows() -> bool:
    """Whether this is Windows, where a venv keeps its programs in ``Scripts`` (read at each call: tests patch it)."""
    return sys.platform == "win32"


def _inside(path: Path, env: Path) -> bool:
    """Whether ``path`` lies in ``env``, as given or with both made absolute (``/tmp`` may be a link)."""
    return any(p.is_relative_to(e) for p, e in ((path, env), (path.absolute(), env.absolute())))


def fresh_env_packages() -> int:
    """How many installed distributions a brand-new ``--without-pip`` venv's python can see."""
    count = "import importlib.metadata as m; print(len(list(m.distributions())))"
    with tempfile.TemporaryDirectory() as folder:
        env = make_env(Path(folder))
        python = env / "Scripts" / "python.exe" if on_windows() else posix_python(env)
        # -I: isolated, so neither this folder nor PYTHON* variables add anything to what it sees
        done = subprocess.run([str(python), "-I", "-c", count], capture_output=True, text=True, timeout=60, cwd=folder)
    return int(done.stdout.strip())


class FreshEnvPackages(Question):
    title = "Predict: how many installed distributions does a new venv have?"
    expects = "a whole number"
    hints = (
        "A virtual environment has its own, separate site-packages folder.",
        "Packages installed in this kernel's environment are not copied into a new one; --without-pip leaves "
        "out even pip.",
    )
    stub = """
        my_prediction = ____  # a whole number of installed distributions
    """
    solution_text = """
        my_prediction = 0  # a new environment is empty: isolation is its point; --without-pip leaves out even pip
    """

    def _check(self, value: Any) -> str:
        if isinstance(value, str):  # "0": the count typed in quotes
            raise Incorrect(f"give a number, not text: {value!r} is a str; write the number without quotes.")
        if isinstance(value, bool) or type(value).__name__ == "bool_":  # numpy's bool too
            raise Incorrect(f"{value!r} is a bool (True or False), not a count: give a whole number of distributions.")
        number = as_real(value)  # numpy, Fraction and Decimal numbers too
        if number is None or not math.isfinite(number):
            raise Incorrect(f"give a whole number of distributions; got {value!r:.80}")
        if not number.is_integer():
            raise Incorrect(f"{value!r:.80}: give a whole number of distributions (one is installed or not).")
        value = number
        measured = fresh_env_packages()
        here = len(list(importlib.metadata.distributions()))
        seen = (
            f"A fresh environment made just now holds {measured} installed distributions; this kernel's holds {here}."
        )
        if value == measured:
            return f"{seen} Nothing installed here leaks into a new environment: that is what isolation means."
        if value == here:
            raise Incorrect(
                f"{value:g} is what this kernel's environment holds. {seen} A venv starts empty, with its own "
                "site-packages."
            )
        if value == measured + 1:
            raise Incorrect(
                f"{value:g}: pip, perhaps? {seen} `--without-pip` leaves out even pip (without that flag, venv "
                "installs the pip bundled with Python)."
            )
        if value == measured + 2:
            raise Incorrect(
                f"{value:g}: pip and setuptools, perhaps? {seen} That pair is what venv installed without "
                "`--without-pip` before Python 3.12 (since 3.12, pip alone); `--without-pip` leaves out both."
            )
        raise Incorrect(f"{value:g} distributions? {seen} A new environment starts empty: nothing is shared.")


class EnvPython(Question):
    title = "An environment's own python, without activating it"
    expects = "a function env_python(env_dir, windows=False)"
    hints = (
        "On Linux and macOS a venv keeps its programs in env_dir/bin; on Windows in env_dir\\Scripts.",
        "Name it python or python3 there (every venv on Linux and macOS holds both; python3.11 only one made from "
        "Python 3.11), and python.exe on Windows. Path(env_dir) / ... builds the path.",
    )
    stub = """
        def env_python(env_dir, windows=False):
            # YOUR CODE HERE (about 3 lines): the path of the venv's interpreter; the Windows one when windows is true.
            raise NotImplementedError
    """
    solution_text = """
        from pathlib import Path

        def env_python(env_dir, windows=False):
            if windows:
                return Path(env_dir) / "Scripts" / "python.exe"
            return Path(env_dir) / "bin" / "python"
    """

    # (the env made here, the Windows env_dirs, the Linux and macOS env_dirs): the Windows ones are judged by path
    # alone off Windows, the Linux and macOS ones (and the env's name, relative) by path on every system. Windows
    # gets drive-less dirs too (relative, a network share) and Linux a colon, even one shaped like a drive ("c:" is
    # a folder name there like any other), and a backslash (a character like any other there), so an answer that
    # guesses the system from env_dir instead of reading `windows` fails; and a capital letter, which Linux tells
    # apart from the small one (so an answer that lower-cases env_dir fails).
    VISIBLE = ("ella_env", ("C:/class/ella_env", "ella_env", r"\\server\share\ella_env"),
               ("/home/Ana/ella_env", "/srv/c:/ella_env", "c:/ella_env", r"/srv/a\b/ella_env"))  # fmt: skip
    HIDDEN = ("course env 2", ("D:/Users/ana/course env", "course env", r"\\files\ana\course env"),
              ("/Users/Ana/course env", "/mnt/d:/course env", "d:/course env", r"/mnt/x\y/course env"))  # fmt: skip
    # (a space in every hidden name)

    def _check(self, env_python: Any) -> str:
        return self._run(env_python, *self.VISIBLE)

    def _check_hidden(self, env_python: Any) -> str:
        return self._run(env_python, *self.HIDDEN)

    def _run(self, env_python: Any, name: str, windows_dirs: tuple[str, ...], posix_dirs: tuple[str, ...]) -> str:
        """The layout of this system is made and run; the other system's is judged by its path alone, and so
        are the POSIX env_dirs on every system (a relative one, one with a colon: what the venv made here is not).

        Both systems get env_dir as a str, the same type, as a learner's own code would pass.
        """
        if not callable(env_python):
            raise Incorrect(f"expected a function env_python(env_dir, windows=False), got {env_python!r}")
        _judge_system_blind(env_python, name, windows=False)  # before the rest: the same verdict on every system
        _judge_system_blind(env_python, windows_dirs[0], windows=True)
        windows = on_windows()
        with tempfile.TemporaryDirectory() as folder:
            env = make_env(Path(folder), name)
            got = _ask(env_python, str(env), windows=windows)
            if got is None and _ask(env_python, str(env), windows=not windows) is not None:
                system = "Windows" if windows else "Linux and macOS"
                raise Incorrect(f"env_python returned None for windows={windows}: is there a return for {system}?")
            self._judge_here(got, env, windows=windows)
            try:
                prefix = subprocess.run(
                    [os.fspath(got), "-I", "-c", "import sys; print(sys.prefix)"],
                    capture_output=True, text=True, timeout=30, cwd=folder,
                ).stdout.strip()  # fmt: skip
            except OSError as exc:
                raise Incorrect(f"{got} could not be run as a program ({exc.strerror}): is it python?") from None
            if Path(prefix).resolve() != env.resolve():
                raise Incorrect(f"{got} runs, but its sys.prefix is {prefix}, not the environment.")
        if not windows:  # the Windows layout, judged by its path
            for windows_dir in windows_dirs:
                self._judge_windows(_ask(env_python, windows_dir, windows=True), windows_dir)
        # the POSIX layout by its path too: on Linux and macOS, an env_dir the venv made here cannot be (a relative
        # one, one with a colon), so that an answer adding to env_dir or guessing the system from it is seen
        for posix_dir in (*posix_dirs, name):
            self._judge_posix_path(_ask(env_python, posix_dir, windows=False), posix_dir)
        return "it names the env's own python on both systems; running it gives sys.prefix == the environment."

    @staticmethod
    def _judge_here(got: Any, env: Path, *, windows: bool) -> None:
        """The path ``env_python`` gave for a venv made just now on this system, before it is run."""
        if got is None:
            raise Incorrect("env_python returned None: did you print the path instead of returning it?")
        path = Path(_as_text(got))
        folder, program = ("Scripts", "python.exe") if windows else ("bin", "python")
        if path.absolute() == Path(sys.executable).absolute():  # not resolved: a venv's python is a link
            raise Incorrect(
                f"{got} is this kernel's python, the one running this notebook, not the one inside env_dir: build "
                "the path from env_dir."
            )
        if not path.is_absolute() and _written_from_here(path, env):  # os.path.relpath(...)
            raise Incorrect(
                f"{got!r} is relative to the current folder (in Jupyter, the notebook's folder), so it names the "
                "interpreter only from there: return the path built from env_dir, as env_dir is given."
            )
        if not _inside(path, env):
            if path.is_absolute() and path == (env / folder / program).resolve():
                raise Incorrect(
                    f"{got} is the base Python, outside the environment: resolve() follows the link out of the "
                    f"venv to the base Python. Leave the path as built, env_dir/{folder}/{program}."
                )
            # env_dir's parts behind something else (os.getcwd() + "/" + env_dir): that is named, not "does not exist"
            _after_env(got, str(env), windows=windows, call=f"env_python({str(env)!r})")
            text = _as_text(got)
            if not windows and "\\" in text and "\\" not in str(env):  # PureWindowsPath(env_dir) / ...
                way = "the Windows layout" if "scripts" in _parts(text, windows=True) else "the Windows way"
                raise Incorrect(
                    f"{got} is {way}, written with backslashes; with windows=False (Linux and macOS) "
                    "a backslash is part of a name, not a separator, so this names no file in the environment: "
                    "return Path(env_dir) / \"bin\" / \"python\" there."
                )
            if not path.is_absolute():
                raise Incorrect(f"{got!r} is not inside the environment {env}: build it from env_dir.")
        if windows:  # what a join on Linux leaves of Path(env) / "\\Scripts" (played Windows)
            _rooted_on_windows(_as_text(got), str(env), call=f"env_python({str(env)!r}, windows=True)")
        parts = [part.lower() for part in path.parts]
        if not windows and "scripts" in parts:
            raise Incorrect(f"{got}: `Scripts` is the Windows layout; on Linux and macOS it is env_dir/bin.")
        if windows and "bin" in parts:
            raise Incorrect(f"on Windows a venv keeps its programs in Scripts, not bin: got {got}.")
        if path.name.lower() == folder.lower():
            raise Incorrect(f"{got}: that is the folder; the program inside it is {program}.")
        if path.parent == env:
            raise Incorrect(f"{got}: the interpreter is not at the top of the environment, but in its {folder} folder.")
        if not windows:
            _versioned(path.name, got)
        if not windows and path.name.endswith(".exe"):
            raise Incorrect(f"{got}: `.exe` is for Windows only; on Linux and macOS the program is `python`.")
        if windows and path.name.lower() == "python":
            raise Incorrect(f"on Windows the interpreter is python.exe: got {got}.")
        if not path.exists():
            raise Incorrect(f"{got} does not exist: look inside {env / folder}.")

    @staticmethod
    def _judge_posix_path(got: Any, env: str) -> None:
        """``env_python(env_dir)`` for a Linux or macOS env, judged by its path alone (on every system)."""
        if got is None:
            raise Incorrect("env_python returned None for windows=False: is there a return for Linux and macOS?")
        rest = _after_env(got, env, windows=False, call=f"env_python({env!r})")
        if rest is None:
            text = _as_text(got)
            if _starts(_parts(text.lower(), windows=False), _parts(env.lower(), windows=False)):
                raise Incorrect(
                    f"env_python({env!r}) gave {text}: Linux and macOS tell capital letters apart, so that is "
                    "another folder. Keep env_dir as it is given."
                )
            raise Incorrect(f"env_python({env!r}) gave {got}, which is not inside the env.")
        if rest and rest[0].lower() == "scripts":
            why = ""
            if ":" in env or "\\" in env:  # the answer guessed Windows from env_dir, not from `windows`
                why = (
                    " windows is False here, whatever env_dir looks like: let `windows` alone choose the layout "
                    "(on Linux and macOS a colon or a backslash is a character of a folder's name like any other)."
                )
            raise Incorrect(f"on Linux and macOS a venv keeps its programs in bin, not Scripts: got {got}.{why}")
        if len(rest) == 2 and rest[0] == "bin":
            _versioned(rest[1], got)
        if len(rest) != 2 or rest[0] != "bin" or not re.fullmatch(r"python3?", rest[1]):
            raise Incorrect(
                f"env_python({env!r}) gave {got}; expected .../bin/python (or python3) on Linux and macOS."
            )

    @staticmethod
    def _judge_windows(got: Any, env: str) -> None:
        """``env_python(env_dir, windows=True)`` for a Windows env, judged elsewhere by its path alone."""
        if got is None:
            raise Incorrect("env_python(..., windows=True) returned None: did you handle the Windows case?")
        shown = str(PureWindowsPath(_as_text(got)))
        rest = _after_env(got, env, windows=True, call=f"env_python({env!r}, windows=True)")
        if rest is None:
            raise Incorrect(f"env_python({env!r}, windows=True) gave {shown}, which is not inside the env.")
        _rooted_on_windows(_as_text(got), env, call=f"env_python({env!r}, windows=True)")
        if rest and rest[0] == "bin":
            raise Incorrect(f"on Windows a venv keeps its programs in Scripts, not bin: got {shown}.")
        if rest == ["scripts", "python"]:
            raise Incorrect(f"on Windows the interpreter is python.exe: got {shown}.")
        if rest != ["scripts", "python.exe"]:
            raise Incorrect(f"env_python({env!r}, windows=True) gave {shown}; expected ...\\Scripts\\python.exe.")


class _SeenAs(types.ModuleType):
    """A module as an answer played on another system sees it: the real module's attributes, but a few."""

    def __init__(self, real: types.ModuleType, **instead: Any):
        super().__init__(real.__name__)
        self.__dict__.update(instead)
        self.__real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__real, name)


def _played_on(answer: Callable[..., Any], *, windows: bool) -> Callable[..., Any] | None:
    """A copy of ``answer`` that reads ``windows``'s system where it asks which system it runs on.

    ``sys.platform``, ``os.name`` and ``platform.system()`` say Windows or Linux, through the answer's own globals
    and its imports (nothing is patched for anyone else: pathlib and the check still see the real system). ``None``
    for an answer that is not a plain function (its globals cannot be given to a copy).
    """
    if not isinstance(answer, types.FunctionType):
        return None
    name, os_name, system = ("win32", "nt", "Windows") if windows else ("linux", "posix", "Linux")
    seen: dict[int, Any] = {
        id(sys): _SeenAs(sys, platform=name),
        id(os): _SeenAs(os, name=os_name),
        id(platform): _SeenAs(platform, system=lambda: system),
    }
    real_import = builtins.__import__

    def seen_import(module: str, *args: Any, **kwargs: Any) -> Any:
        found = real_import(module, *args, **kwargs)
        return seen.get(id(found), found)

    namespace = {key: seen.get(id(value), value) for key, value in answer.__globals__.items()}
    for key, value in answer.__globals__.items():  # `from sys import platform` and the like, done outside it
        if value is sys.platform or value is os.name:
            namespace[key] = name if value is sys.platform else os_name
        elif value is platform.system:
            namespace[key] = seen[id(platform)].system
    namespace["__builtins__"] = {**vars(builtins), "__import__": seen_import}
    copy = types.FunctionType(answer.__code__, namespace, answer.__name__, answer.__defaults__, answer.__closure__)
    copy.__kwdefaults__ = answer.__kwdefaults__
    return copy


def _judge_system_blind(env_python: Callable[..., Any], env_dir: str, *, windows: bool) -> None:
    """Reject an answer whose path changes with the system it runs on, beside ``windows``.

    ``windows or sys.platform == "win32"`` gives the right path on the system it runs on, and so passed on Linux
    while it was rejected on Windows. Played on both systems (``_played_on``), it gives two paths for one call.
    """
    played = [_played_on(env_python, windows=system) for system in (False, True)]
    if played[0] is None or played[1] is None:
        return
    got = []
    for answer in played:
        try:
            value = _ask(answer, env_dir, windows=windows)
        except Exception as exc:  # a mistake of its own: judged where the check calls it as written
            value = exc
        got.append(value if isinstance(value, BaseException) else (type(value), _shown_path(value)))
    if got[0] == got[1] or all(isinstance(g, BaseException) for g in got):
        return
    linux, win = (f"raised {g!r:.80}" if isinstance(g, BaseException) else f"gave {g[1]}" for g in got)
    call = f"env_python({env_dir!r}{', windows=True' if windows else ''})"
    raise Incorrect(
        f"{call} {linux} on Linux and macOS, but {win} on Windows: your function reads which system it runs on "
        "(sys.platform, os.name, platform.system()). Let `windows` alone choose the layout: a script that "
        "prepares a class's Windows machines may run on a Linux laptop."
    )


def _shown_path(value: Any) -> str:
    """A returned path's text, or ``repr`` of anything else (compared, not judged, here)."""
    return os.fspath(value) if isinstance(value, (str, os.PathLike)) else repr(value)


def _written_from_here(path: Path, env: Path) -> bool:
    """Whether a relative ``path`` names something in ``env`` when read from the current folder."""
    try:
        return _inside(Path(os.path.abspath(path)), env)
    except OSError:  # the current folder was deleted
        return False


def _versioned(name: str, got: Any) -> None:
    """Reject python3.N: a venv on Linux and macOS holds python, python3 and python3.N for the N it was made from,
    so that name is right only for a venv made from that version (here, by chance, the running one)."""
    if re.fullmatch(r"python3\.\d+", name):
        made_from = f"Python {name.removeprefix('python')}"
        raise Incorrect(
            f"{got}: {name} is only in a venv made from {made_from}, and env_dir may have been made from another "
            "version: name python or python3, which every venv on Linux and macOS holds."
        )


def _as_text(got: Any) -> str:
    """The text of a returned path: a ``str`` or any ``os.PathLike`` (``Path``, ``PurePosixPath``, ...)."""
    if not isinstance(got, (str, os.PathLike)):
        raise Incorrect(f"env_python should return a path (a str or a Path), got {type(got).__name__}: {got!r:.80}")
    text = os.fspath(got)
    if not isinstance(text, str):
        raise Incorrect(f"env_python should return a path as text, not bytes: got {got!r:.80}")
    return text


def _parts(text: str, *, windows: bool) -> list[str]:
    """The names in a path written for Windows (lower-cased, either slash) or POSIX (either slash too, so that a
    Windows path built on Linux, or a POSIX one built on Windows, is read the way its own system would)."""
    split = [part for part in re.split(r"[\\/]+", text) if part]
    return [part.lower() for part in split] if windows else split


def _starts(mine: list[str], home: list[str]) -> list[int]:
    """Where the names ``home`` stand, in a row, in the names ``mine``."""
    return [i for i in range(len(mine) - len(home) + 1) if mine[i : i + len(home)] == home]


def _rooted_on_windows(text: str, env: str, *, call: str) -> None:
    """Reject a Windows path whose part past env_dir starts with a backslash right after a slash.

    That is what a join on Linux leaves of ``Path(env_dir) / "\\Scripts\\python.exe"``: there ``\\Scripts`` is a
    name like any other, but on Windows a part that starts with a backslash starts again at the root of the drive
    (or share), so the same code gives ``C:\\Scripts\\python.exe`` and env_dir is lost.
    """
    names = list(re.finditer(r"[^\\/]+", text))
    starts = _starts([name.group().lower() for name in names], _parts(env, windows=True))
    if not starts:
        return
    tail = text[names[starts[0] + len(_parts(env, windows=True)) - 1].end() :]
    slash = tail.find("/\\")
    if slash < 0:
        return
    there = PureWindowsPath(env, tail[slash + 1 :])
    raise Incorrect(
        f"{call} gave {text}: a part starting with \\ is a root on Windows: env_dir is lost. There the join "
        f"gives {there}. Join the names without a leading backslash: Path(env_dir) / \"Scripts\" / \"python.exe\"."
    )


def _absolute(env: str, *, windows: bool) -> bool:
    """Whether ``env`` is absolute on the system it is written for: a drive, a share or a root; ``/`` on POSIX."""
    return bool(re.match(r"[A-Za-z]:|[\\/]", env)) if windows else env.startswith("/")


def _current_folder(*, windows: bool) -> list[list[str]]:
    """What a right answer may put in front of env_dir: the current folder, as ``.`` or as ``absolute()`` writes
    it (on Linux ``Path("C:/class/env").absolute()`` is the current folder, then ``C:``, which Windows reads as
    absolute), or on Windows the current drive in front of a POSIX root."""
    try:
        cwd = Path.cwd()
    except OSError:  # the current folder was deleted: no absolute() can name it
        return [[], ["."]]
    fronts = [[], ["."], _parts(str(cwd), windows=windows), _parts(str(cwd.resolve()), windows=windows)]
    if cwd.drive:
        fronts.append(_parts(cwd.drive, windows=windows))
    return fronts


def _after_env(got: Any, env: str, *, windows: bool, call: str) -> list[str] | None:
    """The parts of ``got`` after the env folder's own parts (lower-cased on Windows), or ``None`` if it has none.

    The other system's path is judged by its parts alone. In front of env_dir there may be only nothing, or,
    where this system cannot read env_dir as its own system would (a relative env_dir; a Windows one on Linux),
    the current folder; anything else (``Path.home() /``, ``"C:\\" +``) is named.
    """
    text = _as_text(got)
    mine, home = _parts(text, windows=windows), _parts(env, windows=windows)
    starts = _starts(mine, home)
    if not starts:
        return None
    as_given = _absolute(env, windows=windows) and windows == on_windows()
    fronts = [[]] if as_given else _current_folder(windows=windows)
    for start in starts:
        if mine[:start] in fronts:
            return mine[start + len(home) :]
    # shown as written (a Linux home in front of a Windows env_dir stays /root, not \\root)
    front = text[: [m.start() for m in re.finditer(r"[^\\/]+", text)][starts[0]]].rstrip("\\/") or text[:1]
    raise Incorrect(
        f"{call} gave {text}: it puts {front} in front of env_dir. Build the path from env_dir alone, as it is given."
    )


def _ask(env_python: Callable[..., Any], env_dir: str, *, windows: bool) -> Any:
    """``env_python(env_dir)``, or with ``windows=True``, bounded; ``str / str`` is told that env_dir is a str."""
    try:
        return call_bounded(_windows_call(env_python) if windows else env_python, env_dir, what="env_python")
    except TypeError as exc:
        if "unsupported operand type(s) for /: 'str'" not in str(exc):
            raise
        raise Incorrect(
            "env_dir is a str: wrap it, Path(env_dir), before joining with / (the / operator joins Path objects, "
            f"not str). Your answer raised {exc!r}."
        ) from None


def _windows_call(env_python: Callable[..., Any]) -> Callable[[str], Any]:
    """``env_python(env_dir, windows=True)`` as the task writes it, so a keyword-only ``windows`` works too.

    An answer whose second parameter has another name (``def env_python(env_dir, win=False)``) gets
    ``True`` by position instead, as the task's own signature allows.
    """
    try:
        inspect.signature(env_python).bind("env_dir", windows=True)
    except TypeError:  # no parameter named windows
        try:
            inspect.signature(env_python).bind("env_dir", True)
        except TypeError:  # def env_python(env_dir): nothing to say which system
            raise Incorrect(
                "env_python takes env_dir alone: add the windows=False parameter, def env_python(env_dir, "
                "windows=False), so that it can be asked for the Windows layout too."
            ) from None
        return lambda env_dir: env_python(env_dir, True)
    except ValueError:  # no signature to read (a builtin): pass it as the task writes it
        pass
    return lambda env_dir: env_python(env_dir, windows=True)


q1 = FreshEnvPackages("q1")
q2 = EnvPython("q2")

"""The environment self-check a student runs before class (notebook 02, ``python -m ella_lab check``).

``run_checks()`` says whether the environment works; ``noise_check()`` says whether the machine is quiet
enough, right now, for the lessons' measured claims (a busy machine is no broken environment, so it is
not one of ``run_checks()``).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

# What Noise.quiet asks of a machine, from the one place that decides it: a thread sleeping 1 ms wakes
# less than QUIET_WAKE_LATE_S late, 9 times in 10, and a busy loop gets more than QUIET_CPU_SHARE of a core.
from .claims import QUIET_CPU_SHARE, QUIET_WAKE_LATE_S, Noise, calibrate
from .timing import format_seconds

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "QUIET_CPU_SHARE",
    "QUIET_WAKE_LATE_S",
    "Check",
    "activation_command",
    "environment_kind",
    "noise_check",
    "plot_noise",
    "prefix_after_activation",
    "python_verdict",
    "run_checks",
    "setup_steps",
    "which_python",
]

# What the notebooks import beyond the standard library: tables and plots, progress bars, the explorers'
# widgets, the kernel itself, property-based tests (notebook 05), Dask and psutil (notebook 08).
PACKAGES = (
    "numpy", "pandas", "matplotlib", "tqdm", "ipywidgets", "ipykernel", "hypothesis", "dask", "distributed", "psutil",
)


class Check(NamedTuple):
    name: str
    ok: bool
    detail: str


def _python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    return Check("Python >= 3.11", sys.version_info >= (3, 11), version)


def _package(name: str) -> Check:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        # not "run make lab": it reinstalls only when a file its install depends on (requirements.txt, ...) changed
        where = f"not installed in {sys.executable}: notebook 02, 'If a check fails', says what to do"
        return Check(f"import {name}", False, f"{exc} ({where})")
    return Check(f"import {name}", True, getattr(module, "__version__", "?"))


def _threads() -> Check:
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(threading.current_thread().name)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    return Check("threads start and join", len(seen) == 4, f"{len(seen)} of 4 threads ran")


def _router() -> Check:
    from .router import Router
    from .sources import SimulatedSource

    report = Router(SimulatedSource("check", latency=0.001), workers=2).run(range(4))
    ok = [o.ok for o in report] == [True] * 4
    return Check("ella_lab Router runs", ok, f"{sum(o.ok for o in report)} of 4 requests answered")


def environment_kind(prefix: str | None = None, base_prefix: str | None = None) -> str:
    """What kind of Python runs this code (``sys.prefix`` and ``sys.base_prefix`` by default), in words.

    A venv's python reads its ``pyvenv.cfg``, so its ``sys.prefix`` (where it finds packages) is the
    environment and ``sys.base_prefix`` the Python it was made from; a conda environment is a whole Python
    with a ``conda-meta`` folder, and conda's own base environment (shared by everything conda runs) also
    holds ``condabin``.
    """
    prefix = Path(sys.prefix if prefix is None else prefix)
    base = Path(sys.base_prefix if base_prefix is None else base_prefix)
    if prefix != base:
        return "a venv"
    if (prefix / "conda-meta").is_dir():
        return "conda's base environment" if (prefix / "condabin").is_dir() else "a conda environment"
    return "a Python outside any environment"


# What notebook 02's second code cell imports, directly or through ella_lab: without one of them it stops there.
NEXT_CELL = ("numpy", "pandas", "matplotlib")
# The environments a project's packages belong in; conda's base and a Python outside any environment are shared.
PROJECT_KINDS = ("a venv", "a conda environment")
RESTART = (
    "Quit this JupyterLab and start it again from the project's folder with `make lab` (conda: `jupyter lab` "
    "with the ella-lab environment active); the notebook's section 'If a check fails' says more."
)


def _findable(name: str) -> bool:
    """Whether ``name`` can be imported here, found without importing it (a blocked import counts as missing)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a finder that refuses it; a module set to None in sys.modules
        return False


def python_verdict(executable: str, version: tuple[int, ...], kind: str, missing: list[str]) -> str:
    """What a learner reads about the Python that runs a notebook, and what to do about it (see ``which_python``).

    ``kind`` is ``environment_kind()``'s answer and ``missing`` the packages of ``PACKAGES`` it cannot import.
    A Python older than 3.11 never gets here: ella_lab cannot be imported there (``ExceptionGroup``), so notebook
    02's first cell tells it before importing this module.
    """
    shown = ".".join(map(str, version[:3]))
    said = f"This notebook runs in {executable} (Python {shown}, {kind})."
    if missing:
        them = "it" if len(missing) == 1 else "one of them"
        stops = "the next cell" if set(missing) & set(NEXT_CELL) else f"a notebook that imports {them}"
        lacks = f"It lacks {', '.join(missing)}: {stops} stops with ModuleNotFoundError."
        if len(missing) == len(PACKAGES) or kind not in PROJECT_KINDS:
            return f"{said}\n{lacks}\nThis is not the project's environment. {RESTART}"
        install = f"{executable} -m pip install -r requirements.txt"
        it = "it" if len(missing) == 1 else "them"
        return (
            f"{said}\n{lacks}\nInstall {it} into this environment: in a terminal, in the project's folder, "
            f"`{install}` (conda: `conda env update -f environment.yml`), then restart the kernel."
        )
    if kind not in PROJECT_KINDS:
        return (
            f"{said}\nEvery package the notebooks use is installed, so they will run, but {kind} is shared by "
            f"everything that uses this Python: the project's own environment keeps its packages apart. {RESTART}"
        )
    return f"{said}\nEvery package the notebooks use is installed in it: go on."


def which_python() -> str:
    """Which Python runs this code, which environment it is, what it lacks, and what to do: notebook 02's first cell.

    ella_lab and the standard library only (the notebooks' packages are looked up, not imported), so that a kernel
    started from another Python 3.11 or newer, with none of those packages, still gets the diagnosis instead of a
    ModuleNotFoundError.
    """
    missing = [name for name in PACKAGES if not _findable(name)]
    return python_verdict(sys.executable, tuple(sys.version_info[:3]), environment_kind(), missing)


def _activation(env: Path) -> str | list[str]:
    """One shell that activates ``env``, then runs the bare word ``python``: bash (or sh) arguments, or a cmd line."""
    ask = 'python -c "import sys; print(sys.prefix)"'
    if sys.platform == "win32":  # a command line that starts with a word, so cmd /c keeps its quotes
        return f'call "{env / "Scripts" / "activate.bat"}" && {ask}'
    return [shutil.which("bash") or "sh", "-c", f'. "{env / "bin" / "activate"}" && {ask}']


def activation_command(env: str | Path) -> str:
    """The command line ``prefix_after_activation(env)`` runs, as a terminal would show it (notebook 02 prints it)."""
    command = _activation(Path(env))
    return command if isinstance(command, str) else shlex.join(command)


def prefix_after_activation(env: str | Path) -> Path:
    """The ``sys.prefix`` of the bare word ``python`` in a new shell where the venv ``env`` was activated.

    Notebook 02 shows the guide's second step with it: activation changes the shell it runs in, so the
    activation and the ``python`` it changes run in one shell (bash or sh; ``cmd`` on Windows). Bounded at 30 s.
    """
    env = Path(env)
    command = _activation(env)
    done = subprocess.run(
        command, shell=isinstance(command, str), capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"activating {env} failed (exit status {done.returncode}): {done.stderr.strip()[-300:]}")
    return Path(done.stdout.strip())


# The commands of the Makefile that set the environment up: make the venv, install with pip, register the kernel.
SETUP_COMMANDS = (" -m venv ", " -m pip install", " -m ipykernel install")
# What the hand-out (ella_lab.tools.handout: no Makefile) does instead: its README's first command.
NO_MAKEFILE = (
    "No Makefile here, as in the hand-out. There, the README's first command makes .venv and installs "
    "requirements.txt (the packages and ella_lab) into it, without upgrading pip or registering a kernel."
)


def setup_steps(folder: str | Path) -> str:
    """The lines of ``folder``'s Makefile that make the venv, install into it and register the kernel (notebook 02
    prints them beside the guide's three steps), or ``NO_MAKEFILE`` where there is none, as in the hand-out."""
    makefile = Path(folder) / "Makefile"
    if not makefile.is_file():
        return NO_MAKEFILE
    lines = makefile.read_text(encoding="utf-8").splitlines()
    return "\n".join(line.strip() for line in lines if any(command in line for command in SETUP_COMMANDS))


def _kernel() -> Check:
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    name = type(shell).__name__ if shell else "none"
    return Check("inside a Jupyter kernel", name == "ZMQInteractiveShell", name)


def run_checks(*, kernel: bool = True) -> list[Check]:
    """Every check, in order; ``kernel=False`` skips the one that only passes inside Jupyter."""
    checks = [_python(), *map(_package, PACKAGES), _threads(), _router()]
    if kernel:
        checks.append(_kernel())
    return checks


def _apart(value: float, threshold: float, coarse: Callable[[float], str], fine: Callable[[float], str]) -> str:
    """``value`` shown coarsely, or finely when the coarse form would read the same as the threshold's.

    A busy loop that got 79.6 % of a core must not read "only 80 %" beside "more than 80 %".
    """
    shown = coarse(value)
    return fine(value) if shown == coarse(threshold) else shown


def _late(seconds: float) -> str:
    return _apart(seconds, QUIET_WAKE_LATE_S, format_seconds, lambda s: f"{s * 1e3:.4f} ms")


def _share(share: float) -> str:
    """A busy loop's share of a core, to a tenth of a percent as the calibration's table shows it."""
    return _apart(share, QUIET_CPU_SHARE, lambda s: f"{s:.1%}", lambda s: f"{s:.2%}")


def _late_ms(ms: float) -> str:
    """A lateness in milliseconds, for a bar on an axis in milliseconds (finer next to the limit, as ``_late``)."""
    return _apart(ms, QUIET_WAKE_LATE_S * 1e3, lambda v: f"{v:.0f} ms" if v >= 100 else f"{v:#.3g} ms",
                  lambda v: f"{v:.4f} ms")  # fmt: skip


def noise_check(noise: Noise | None = None) -> Check:
    """Whether this machine is quiet enough for the lessons' measured claims, and what to do if it is not.

    ``noise`` is a calibration (``ella_lab.claims.calibrate()``); by default a fresh one (about 140 ms).
    The verdict is ``noise.quiet``; the detail says which measurement decided it.
    """
    if noise is None:
        noise = calibrate(fresh=True)
    if not isinstance(noise, Noise):
        raise TypeError(f"noise must be a Noise from ella_lab.claims.calibrate(), got {noise!r}")
    late, share = noise.wake_late_p90_s, noise.cpu_share
    if noise.quiet:
        detail = (
            f"Quiet enough: a sleeping thread wakes at most {_late(late)} late (9 times in 10, under "
            f"{format_seconds(QUIET_WAKE_LATE_S)}) and a busy loop got {_share(share)} of a core (over "
            f"{QUIET_CPU_SHARE:.0%}). The lessons' measured times should fall in their bands."
        )
    else:
        why = []
        wakes_late = not late < QUIET_WAKE_LATE_S
        if math.isinf(late):
            why.append("a sleeping thread did not wake up in time for the calibration to measure it")
        elif wakes_late:
            why.append(
                f"a sleeping thread wakes up to {_late(late)} late (9 times in 10); a quiet machine wakes it "
                f"less than {format_seconds(QUIET_WAKE_LATE_S)} late"
            )
        if not share > QUIET_CPU_SHARE:
            why.append(
                f"a busy loop got only {_share(share)} of a core, and a quiet machine gives it more than "
                f"{QUIET_CPU_SHARE:.0%} (other programs are using the cores)"
            )
        # power saving lets a core sleep deeper, so a thread wakes later; it does not lower a busy loop's share
        plug = ", plug a laptop in (power saving can make a sleeping thread wake later)" if wakes_late else ""
        detail = (
            f"Busy: {'; '.join(why)}. Close what you can (browser tabs, video calls, updates){plug}, wait a minute "
            "and measure again. On a busy machine the lessons "
            "still run: a measured claim that misses is measured again, then shown in an orange box instead of "
            "stopping Run All; the exact results (counts, models, seeded simulations) do not change."
        )
    if noise.cores < 2:
        plural = "" if noise.cores == 1 else "s"
        detail += (
            f" This process may use {noise.cores:g} core{plural}: notebook 08's processes cannot run side by side here."
        )
    return Check("quiet enough for measured claims", noise.quiet, detail)


def _plot_share(ax: Any, cpu_share: float) -> None:
    """The busy loop's share as a point on an axis zoomed around the limit, its margin to the limit marked.

    Every word stands outside the plotting area (the limit on a right-hand tick, the share and its margin
    under the point), so no share, however close to the limit, puts a label on the point or the line.
    """
    percent, limit = cpu_share * 100, QUIET_CPU_SHARE * 100
    bottom = min(60.0, 10 * math.floor(percent / 10) - 10)  # 60 % to 105 %, lower only to show a lower share
    ax.axhline(limit, color="black", linestyle="--")
    margin = percent - limit
    if abs(margin) >= 3:  # room for an arrow between the point and the line
        ax.annotate("", xy=(0.25, percent), xytext=(0.25, limit),
                    arrowprops={"arrowstyle": "<->", "color": "gray", "shrinkA": 0, "shrinkB": 0})  # fmt: skip
    ax.plot([0], [percent], "o", color="tab:blue", markersize=9)
    side = "over" if margin > 0 else "under"
    ax.set(xlim=(-0.6, 0.6), xticks=[0], ylim=(bottom, 105), ylabel="% of one core")
    below = f"busy loop: {_share(cpu_share)}\n{abs(margin):.1f} points {side} the limit"
    ax.set_xticklabels([below], fontsize="medium")
    ax.secondary_yaxis("right").set_yticks([limit], labels=[f"quiet:\nover {QUIET_CPU_SHARE:.0%}"], fontsize="medium")
    ax.set_title("Busy loop: share of a core")


def _label_bars(ax: Any, bars: Any, late_ms: list[float], limit: float) -> None:
    """Each bar's lateness (in the axis' unit) at its end, or just past the dashed limit when it would cross it
    (a bar ending near it); a bar that never woke runs to the axis' end, "never woke" written inside it."""
    renderer = ax.figure.canvas.get_renderer()
    line_x = ax.transData.transform((limit, 0))[0]
    shown = ["" if math.isinf(ms) else _late_ms(ms) for ms in late_ms]
    for label, ms, bar in zip(ax.bar_label(bars, labels=shown, padding=3), late_ms, bars, strict=True):
        if math.isinf(ms):
            label.set(text="never woke", horizontalalignment="right", color="white")
            label.xyann = (-6, 0)  # points, back from the bar's end into it
            continue
        box = label.get_window_extent(renderer)
        if box.x0 - 2 <= line_x <= box.x1 + 2:  # on the line: start it past the line instead
            label.xy = (limit, bar.get_y() + bar.get_height() / 2)


def plot_noise(noise: Noise) -> Figure:
    """Draw a calibration beside the two limits of a quiet machine, one panel for each (notebook 02).

    Left: how late a thread sleeping 1 ms woke (median and 9 times in 10), in milliseconds, with the
    ``QUIET_WAKE_LATE_S`` limit; right: the share of a core a busy loop got, on an axis zoomed around
    ``QUIET_CPU_SHARE`` (so that a share near the limit is told from it), with its margin to the limit.
    A sleeper that never woke (an infinite lateness) is drawn as a bar to the axis' end, labelled so. The
    limits are named outside the plotting area (a tick on the top or right edge), so that no value near one
    puts a label on a line, a bar or the point.
    """
    import matplotlib.pyplot as plt

    if not isinstance(noise, Noise):
        raise TypeError(f"noise must be a Noise from ella_lab.claims.calibrate(), got {noise!r}")
    limit_ms = QUIET_WAKE_LATE_S * 1e3
    late_ms = [noise.wake_late_p50_s * 1e3, noise.wake_late_p90_s * 1e3]
    right_end = 1.5 * max([*filter(math.isfinite, late_ms), limit_ms])  # a list: none may be finite
    fig, (wake, share) = plt.subplots(1, 2, figsize=(8.5, 3.0), width_ratios=[2, 1])
    bars = wake.barh(["median", "9 times in 10"], [min(ms, right_end) for ms in late_ms], color="tab:blue")
    wake.axvline(limit_ms, color="black", linestyle="--")
    wake.set(xlabel="milliseconds late", xlim=(0, right_end), ylim=(1.6, -0.6))  # the median on top, read first
    wake.secondary_xaxis("top").set_xticks([limit_ms], labels=[f"quiet: under {limit_ms:g} ms"], fontsize="medium")
    wake.set_title("A 1 ms sleep: how late it woke")
    _plot_share(share, noise.cpu_share)
    fig.tight_layout()
    _label_bars(wake, bars, late_ms, limit_ms)  # placed once the layout is final
    return fig

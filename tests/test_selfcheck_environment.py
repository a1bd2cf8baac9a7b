"""Notebook 02's "which environment runs this kernel" (selfcheck.environment_kind) and a missing package's advice."""

import sys

import pytest

from ella_lab.selfcheck import _package, environment_kind


def test_a_venv_is_told_by_its_base_prefix(tmp_path):
    (tmp_path / "conda-meta").mkdir()  # a venv made from a conda Python is still a venv
    assert environment_kind(str(tmp_path / "venv"), str(tmp_path)) == "a venv"


def test_a_conda_environment_is_told_from_condas_base(tmp_path):
    env, base = tmp_path / "envs" / "ella-lab", tmp_path
    (env / "conda-meta").mkdir(parents=True)
    (base / "conda-meta").mkdir()
    (base / "condabin").mkdir()
    assert environment_kind(str(env), str(env)) == "a conda environment"
    # review 02: conda's base environment passed as "an environment of its own"
    assert environment_kind(str(base), str(base)) == "conda's base environment"


def test_a_python_with_no_environment_is_named(tmp_path):
    assert environment_kind(str(tmp_path), str(tmp_path)) == "a Python outside any environment"


def test_this_test_run_is_in_a_venv_or_conda_environment():
    assert environment_kind() in ("a venv", "a conda environment"), sys.prefix


def test_a_missing_package_names_this_python_not_make_lab():
    # `make lab` reinstalls nothing while its stamp is newer than requirements.txt and pyproject.toml
    check = _package("ella_lab_no_such_package")
    assert not check.ok and sys.executable in check.detail and "make lab" not in check.detail
    assert "If a check fails" in check.detail


@pytest.mark.parametrize(("cores", "said"), [(1, "may use 1 core:"), (1.5, "may use 1.5 cores:")])
def test_noise_check_names_a_fractional_quota_in_plain_words(cores, said):
    from ella_lab.claims import Noise
    from ella_lab.selfcheck import noise_check

    detail = noise_check(Noise(1e-7, 1e-4, 2e-4, cores, 0.1, 1.0)).detail
    assert said in detail and "cannot run side by side" in detail


# -- review 02b (A1, A2): notebook 02's first cell diagnoses a kernel in another Python --------------------------------
# Before, the first cell imported matplotlib, pandas and ella_lab, so another Python stopped there with
# ModuleNotFoundError and never reached the self-check; and a system Python or conda's base environment with every
# package got an AssertionError from "assert kind in (...)" before the self-check.

import json  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

from ella_lab.selfcheck import (  # noqa: E402
    PACKAGES,
    activation_command,
    prefix_after_activation,
    python_verdict,
    which_python,
)

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02-environment.ipynb"
THIRD_PARTY = (*PACKAGES, "IPython", "cloudpickle", "nbformat")


def first_code_cell() -> str:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return next("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def run_blocked(code: str, blocked: tuple[str, ...], how: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh python where the ``blocked`` top-level packages cannot be imported (as if not installed);
    at the end it prints which third-party packages got imported anyway."""
    if how == "none":  # sys.modules[name] = None: import raises ModuleNotFoundError
        block = f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
    else:  # a finder ahead of all others that refuses them
        block = (
            "import sys\n"
            "class Refuse:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.partition('.')[0] in {blocked!r}:\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "sys.meta_path.insert(0, Refuse())\n"
        )
    tail = f"\nprint('imported:', sorted(n for n in {THIRD_PARTY!r} if sys.modules.get(n) is not None))\n"
    return subprocess.run(
        [sys.executable, "-c", block + code + tail], capture_output=True, text=True, timeout=60, cwd=NOTEBOOK.parent
    )


@pytest.mark.parametrize("how", ["none", "finder"])
def test_the_first_cell_names_what_another_python_lacks_without_a_traceback(how):
    done = run_blocked(first_code_cell(), THIRD_PARTY, how)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    said = done.stdout
    assert f"This notebook runs in {sys.executable}" in said, said
    assert "It lacks numpy, pandas, matplotlib" in said and "the next cell stops with ModuleNotFoundError" in said
    assert "This is not the project's environment" in said and "make lab" in said
    assert said.rstrip().endswith("imported: []"), said  # ella_lab.selfcheck imported no third-party package


def test_the_first_cell_names_a_python_without_ella_lab():
    done = run_blocked(first_code_cell(), (*THIRD_PARTY, "ella_lab"), "finder")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert f"This notebook runs in {sys.executable}, which cannot import ella_lab" in done.stdout, done.stdout
    assert "make lab" in done.stdout and "If a check fails" in done.stdout
    assert "(ModuleNotFoundError: " in done.stdout and "The next cell stops with an error." in done.stdout


def test_the_first_cell_says_go_on_in_the_project_environment():
    done = run_blocked(first_code_cell(), (), "none")
    assert done.returncode == 0, done.stderr
    assert "Every package the notebooks use is installed in it: go on." in done.stdout, done.stdout


def test_which_python_here_is_the_happy_path():
    assert which_python().endswith("go on.")


@pytest.mark.parametrize(
    ("kind", "missing", "words"),
    [
        ("a venv", ["hypothesis"], "Install it into this environment"),  # review 02d A5: was "Install them"
        ("a venv", ["pandas"], "Install it into this environment"),
        ("a venv", ["pandas", "dask"], "Install them into this environment"),
        ("a venv", list(PACKAGES), "This is not the project's environment"),
        ("a Python outside any environment", ["pandas"], "This is not the project's environment"),
        ("conda's base environment", [], "so they will run, but conda's base environment is shared"),
        ("a Python outside any environment", [], "so they will run, but a Python outside any environment is shared"),
        ("a conda environment", [], "go on."),
    ],
)
def test_python_verdict_says_what_to_do(kind, missing, words):
    said = python_verdict("/opt/py/bin/python", (3, 12, 1), kind, missing)
    assert said.startswith(f"This notebook runs in /opt/py/bin/python (Python 3.12.1, {kind}).") and words in said
    if kind not in ("a venv", "a conda environment") or len(missing) == len(PACKAGES):
        assert "make lab" in said and "If a check fails" in said
    if missing == ["hypothesis"]:  # review 02c: the next cell imports no hypothesis, yet it "stopped" there
        assert "It lacks hypothesis: a notebook that imports it stops with ModuleNotFoundError." in said
    elif missing:
        assert f"It lacks {', '.join(missing)}: the next cell stops with ModuleNotFoundError." in said


def second_code_cell() -> str:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return [("".join(c["source"])) for c in cells if c["cell_type"] == "code"][1]


def test_the_next_cell_stops_without_exactly_the_packages_python_verdict_names():
    # what backs "the next cell stops" (NEXT_CELL) and "a notebook that imports it stops" (every other package)
    from ella_lab.selfcheck import NEXT_CELL

    for name in NEXT_CELL:
        done = run_blocked(second_code_cell(), (name,), "none")
        assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr, (name, done.stderr[-300:])
    others = tuple(name for name in PACKAGES if name not in NEXT_CELL)
    done = run_blocked(second_code_cell(), others, "finder")
    assert done.returncode == 0, done.stderr[-500:]


# -- review 02c (A3): the first cell on a Python older than 3.11 -----------------------------------------------------
# Before, the first cell imported ella_lab.selfcheck first: on Python 3.10 with ella_lab importable, ella_lab's
# import raised NameError: name 'ExceptionGroup' is not defined (fallback.py), which "except ImportError" let through,
# so python_verdict's "needs Python 3.11" was never reached (seen: a traceback on a real 3.10 and with the
# simulation below). Now the cell asks the version before importing anything of ella_lab.

PRETEND_310 = (  # what a 3.10 lacks, and what it says it is, set before the cell's code runs
    "import builtins, sys\n"
    "del builtins.ExceptionGroup, builtins.BaseExceptionGroup\n"
    "sys.version_info = (3, 10, 13, 'final', 0)\n"
)
NO_EXCEPTION_GROUP = "import builtins\ndel builtins.ExceptionGroup, builtins.BaseExceptionGroup\n"
ASKED = "\nprint('ella_lab imported:', any(n.partition('.')[0] == 'ella_lab' for n in sys.modules))\n"


def run_first_cell(python: str, before: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, "-c", before + first_code_cell() + ASKED],
        capture_output=True, text=True, timeout=60, cwd=NOTEBOOK.parent, env=env,
    )  # fmt: skip


def test_the_first_cell_tells_a_python_older_than_311_before_importing_ella_lab():
    done = run_first_cell(sys.executable, PRETEND_310)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    said = done.stdout
    assert f"This notebook runs in {sys.executable}, which is Python 3.10, and the notebooks need 3.11 or newer" in said
    assert "The next cell stops with an error." in said and "make lab" in said and "If a check fails" in said
    assert said.rstrip().endswith("ella_lab imported: False"), said


def test_the_first_cell_names_any_error_importing_ella_lab():
    # the version says 3.11, but ella_lab cannot be imported (here: no ExceptionGroup): named, not a traceback
    done = run_first_cell(sys.executable, NO_EXCEPTION_GROUP)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "cannot import ella_lab (NameError: name 'ExceptionGroup' is not defined)" in done.stdout, done.stdout
    assert "The next cell stops with an error." in done.stdout


def a_real_python_310() -> str | None:
    """A Python 3.10 on this machine, if there is one (a pyenv shim that cannot run it does not count)."""
    import glob
    import os
    import shutil

    pyenv = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10*/bin/python3.10")))
    found = [shutil.which("python3.10"), *pyenv]
    for python in filter(None, found):
        try:
            done = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"],
                                  capture_output=True, text=True, timeout=30)  # fmt: skip
        except OSError:
            continue
        if done.stdout.strip() == "(3, 10)":
            return python
    return None


def test_the_first_cell_tells_a_real_python_310_with_ella_lab_importable():
    python = a_real_python_310()
    if python is None:
        pytest.skip("no Python 3.10 on this machine")
    import os

    env = {**os.environ, "PYTHONPATH": str(NOTEBOOK.parents[1])}  # ella_lab importable, as the review tried
    done = run_first_cell(python, "", env)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "which is Python 3.10, and the notebooks need 3.11 or newer." in done.stdout, done.stdout
    assert done.stdout.rstrip().endswith("ella_lab imported: False"), done.stdout


def test_the_first_cell_imports_nothing_beyond_the_standard_library_and_ella_lab():
    code = (
        "import sys\nbefore = set(sys.modules)\n" + first_code_cell() + "\nnew = {n.partition('.')[0] for n in "
        "set(sys.modules) - before}\nprint('beyond:', sorted(new - set(sys.stdlib_module_names) - {'ella_lab'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=NOTEBOOK.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("beyond: []"), done.stdout


def test_activation_makes_python_the_environments_own(tmp_path):
    env = tmp_path / "an env"  # a space in the path, as a learner's folder may have
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=60)
    assert prefix_after_activation(env).samefile(env)
    with pytest.raises(RuntimeError, match=r"activating .* failed"):
        prefix_after_activation(tmp_path / "no env")


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX venv's bin/activate, run by bash or sh")
def test_the_activation_command_shown_is_the_one_run(tmp_path):
    # review 02d B2: notebook 02 prints the command line next to the prefix it gives
    env = tmp_path / "an env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=60)
    shown = activation_command(env)
    assert f". \"{env / 'bin' / 'activate'}\" && python -c" in shown, shown
    done = subprocess.run(shlex.split(shown), capture_output=True, text=True, timeout=30, check=True)
    assert Path(done.stdout.strip()) == prefix_after_activation(env)


# -- review 02e (A1, A3, B5): the hand-out has no Makefile; the first cell's advice is RESTART's ----------------------
from ella_lab.selfcheck import NO_MAKEFILE, RESTART, setup_steps  # noqa: E402


def test_setup_steps_are_the_makefiles_venv_install_and_kernel_lines():
    steps = setup_steps(NOTEBOOK.parents[1]).splitlines()
    assert " -m venv " in steps[0] and " -m ipykernel install --sys-prefix --name python3" in steps[-1]
    assert sum(" -m pip install" in step for step in steps) == 3 and len(steps) == 5  # pip, requirements, project


def test_setup_steps_without_a_makefile_say_so(tmp_path):
    (tmp_path / "README.md").write_text("no Makefile here")
    assert setup_steps(tmp_path) == NO_MAKEFILE and "hand-out" in NO_MAKEFILE


def test_the_first_cell_gives_restarts_advice_word_for_word():
    """The first cell cannot import ella_lab where it fails, so it holds its own copy of RESTART: kept in step."""
    import ast

    tree = ast.parse(first_code_cell())
    copies = [ast.literal_eval(node.value) for node in ast.walk(tree)
              if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "restart"]  # fmt: skip
    assert copies == [RESTART]

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
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

from ella_lab.selfcheck import PACKAGES, prefix_after_activation, python_verdict, which_python  # noqa: E402

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
    assert "the next cell stops with ModuleNotFoundError" in done.stdout


def test_the_first_cell_says_go_on_in_the_project_environment():
    done = run_blocked(first_code_cell(), (), "none")
    assert done.returncode == 0, done.stderr
    assert "Every package the notebooks use is installed in it: go on." in done.stdout, done.stdout


def test_which_python_here_is_the_happy_path():
    assert which_python().endswith("go on.")


@pytest.mark.parametrize(
    ("kind", "missing", "words"),
    [
        ("a venv", ["hypothesis"], "Install them into this environment"),
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
    if kind not in ("a venv", "a conda environment") or len(missing) > 1:
        assert "make lab" in said and "If a check fails" in said
    if missing:
        assert f"It lacks {', '.join(missing)}: the next cell stops with ModuleNotFoundError." in said


def test_python_verdict_names_an_old_python():
    said = python_verdict("/usr/bin/python3", (3, 10, 12), "a Python outside any environment", [])
    assert "Python 3.10.12" in said and "need Python 3.11 or newer" in said and "make lab" in said


def test_activation_makes_python_the_environments_own(tmp_path):
    env = tmp_path / "an env"  # a space in the path, as a learner's folder may have
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=60)
    assert prefix_after_activation(env).samefile(env)
    with pytest.raises(RuntimeError, match=r"activating .* failed"):
        prefix_after_activation(tmp_path / "no env")

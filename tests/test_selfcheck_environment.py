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

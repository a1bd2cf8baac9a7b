"""The project's own promises: the two dependency lists agree, CI runs the README's test command."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _requirement(line: str) -> tuple[str, str] | None:
    line = line.split("#", 1)[0].strip().lstrip("- ").strip()
    match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)\s*(.*)", line)
    if not match or match.group(1) in {"python", "pip", "dependencies:", "channels:", "conda-forge", "name:"}:
        return None
    return match.group(1).lower(), match.group(2).replace(" ", "")


def test_requirements_and_environment_list_the_same_packages_and_bounds():
    pip = dict(filter(None, map(_requirement, (ROOT / "requirements.txt").read_text().splitlines())))
    env_lines = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1].splitlines()
    conda = dict(filter(None, map(_requirement, env_lines)))
    assert pip, "requirements.txt lists nothing"
    assert pip == conda


def test_every_requirement_has_bounds():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        req = _requirement(line)
        if req:
            assert ">=" in req[1] and "<" in req[1], f"{req[0]} needs a lower and an upper bound"


def test_library_dependencies_are_in_requirements():
    pyproject = (ROOT / "pyproject.toml").read_text()
    pip = dict(filter(None, map(_requirement, (ROOT / "requirements.txt").read_text().splitlines())))
    block = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    for name, bounds in re.findall(r'"([a-z0-9\-]+)([^"]*)"', block):
        assert pip.get(name) == bounds, name


def test_every_package_the_library_imports_at_load_time_is_a_dependency():
    """A module-level import of a package pyproject does not name works only because something else pulled it in."""
    import ast
    import sys

    pyproject = (ROOT / "pyproject.toml").read_text()
    block = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    declared = {name.replace("-", "_") for name, _ in re.findall(r'"([a-z0-9\-]+)([^"]*)"', block)}
    imported = {}
    for path in (ROOT / "ella_lab").rglob("*.py"):
        if "tools" in path.relative_to(ROOT / "ella_lab").parts:  # make notebooks / make student: dev tools
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                if root not in sys.stdlib_module_names and root not in {"ella_lab", "__future__"}:
                    imported.setdefault(root, path.name)
    assert imported, "no third-party import found: the scan is broken"
    assert {name: where for name, where in imported.items() if name not in declared} == {}


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lab:", "test:", "notebooks:", "student:", "bench:"):
        assert f"\n{target}" in makefile


def test_ci_runs_make_test_on_two_pythons_each_in_its_own_venv():
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'make -k test PYTHON="$python" VENV=".venv-$version"' in ci
    assert "exit $status" in ci and "set -e" not in ci.replace("set -uo", "")  # every run reported, any failure fails
    makefile = (ROOT / "Makefile").read_text()
    assert "\nVENV   ?= " in makefile and "STAMP  := $(VENV)/" in makefile, "VENV must be overridable, stamp per venv"
    assert "|| true" not in makefile, "a failing (or empty, exit 5) pytest run must fail make"
    assert ".venv-*/" in (ROOT / ".gitignore").read_text()


def test_make_stress_runs_the_busy_core_script():
    script = ROOT / "scripts" / "busy_nbval.sh"
    assert "scripts/busy_nbval.sh" in (ROOT / "Makefile").read_text().split("\nstress:", 1)[1].split("\n\n", 1)[0]
    text = script.read_text()
    assert "while True: pass" in text and "trap" in text and "--nbval-sanitize-with" in text


def test_make_lab_serves_the_project_root_without_the_news_popup():
    makefile = (ROOT / "Makefile").read_text()
    lab = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "--ServerApp.root_dir=. notebooks/00-index.ipynb" in lab
    overrides = json.loads((ROOT / "jupyter-config" / "lab" / "settings" / "overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    # the README and the teacher's guide open rendered from the file browser and from the index's link
    assert overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]["markdown"] == "Markdown Preview"
    assert "share/jupyter/lab/settings/overrides.json" in makefile


def test_license_is_an_spdx_string_with_its_file():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'license = "MIT"' in pyproject and 'license-files = ["LICENSE"]' in pyproject
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert '"setuptools>=77"' in pyproject  # the first setuptools to read the SPDX form


def test_make_help_lists_every_target():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.search(r"\.PHONY:(.*)", makefile).group(1).split()) - {"help"}
    help_text = makefile.split("\nhelp:", 1)[1].split("\n\n", 1)[0]
    assert {t for t in targets if f"make {t} " not in help_text} == set()


def test_python_floor_is_311_everywhere():
    assert 'requires-python = ">=3.11"' in (ROOT / "pyproject.toml").read_text()
    assert "python>=3.11" in (ROOT / "environment.yml").read_text()
    assert "3.11" in (ROOT / "README.md").read_text()


def test_the_readme_example_runs():
    block = (ROOT / "README.md").read_text().split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    summary = namespace["report"].summary()
    assert summary["requests"] == 100 and summary["succeeded"] == 100

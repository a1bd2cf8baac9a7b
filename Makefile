# Two commands on a fresh machine: `make lab` and `make test`. Both create .venv when it is missing.
# Another Python gets its own venv (the stamp lives in the venv): make test PYTHON=python3.13 VENV=.venv-3.13
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help venv lab test lint unit nbval stress notebooks student key grade handout bench demo clean

help:
	@echo "make lab        set up .venv and open JupyterLab (serving the project) on notebooks/00-index.ipynb"
	@echo "make test       set up .venv, then ruff, unit tests and strict nbval on every notebook"
	@echo "                (another Python: make test PYTHON=python3.13 VENV=.venv-3.13; CI: bash .ci/run)"
	@echo "make lint       ruff only;   make unit   the tests/ folder only;   make nbval   strict nbval only"
	@echo "make stress     strict nbval over the walkthrough 3 times with one core kept busy, then a learner's"
	@echo "                Run All 3 times with both cores busy (no cell may raise; boxes listed)"
	@echo "make notebooks  re-execute every notebook in place (outputs and widget state saved)"
	@echo "make student    regenerate the student copies of the sheets, and the walkthrough's answer cells from"
	@echo "                their stubs (ella_lab/exercises/walkNN.py); then re-execute what changed (make notebooks)"
	@echo "make key        the teachers' answer key: key/NN-*.ipynb, the walkthrough with every model answer, run"
	@echo "make grade      grade a class: make grade SUBMISSIONS=folder-or-zip [OUT=grades] [SHEET=phase3]"
	@echo "make handout    what students receive, without solutions: make handout [HANDOUT=handout]"
	@echo "make bench      run the benchmarks (figures in benchmarks/results/)"
	@echo "make demo       the guide's Phase 5 scenario: python -m ella_lab demo"
	@echo "make venv       only set up .venv;   make clean   remove .venv, the CI venvs, caches and key/"

venv: $(STAMP)

# The editable install prints an information-only notice from setuptools (same-named folders may shadow
# the package); it is silenced so that the install is quiet. overrides.json: see jupyter-config/README.md.
$(STAMP): requirements.txt pyproject.toml jupyter-config/lab/settings/overrides.json
	@$(if $(wildcard $(PY)),$(PY),$(PYTHON)) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ella-lab needs Python >= 3.11 (found " + sys.version.split()[0] + ")")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ella-lab)" > /dev/null
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp jupyter-config/lab/settings/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $(STAMP)

# Jupyter refuses to run as root unless told; containers and CI machines often are root.
LAB_FLAGS := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

# The server's root is the project, so the README the index links to opens from the file browser.
# JupyterLab draws widgets (sliders) from their saved state only in a trusted notebook: trust ours first.
lab: venv
	$(VENV)/bin/jupyter trust notebooks/*.ipynb notebooks/exercises/*.ipynb notebooks/exercises/student/*.ipynb > /dev/null
	$(VENV)/bin/jupyter lab $(LAB_FLAGS) --ServerApp.root_dir=. notebooks/00-index.ipynb

lint: venv
	$(VENV)/bin/ruff check .

# The unit tests mostly wait (deadlines, hung answers cut off, kernels starting): six at once on two cores
# (measured on 2 cores: 254 s with 4, 198 s with 6 at 126% CPU, 188 s with 8).
unit: venv
	$(PY) -m pytest -n 6 tests

# A cell still running after 120 s (a whole notebook takes at most about 45 s: notebook 10) is interrupted, which prints where it hung
# and lets the next notebook start, instead of pytest-timeout's 300 s per cell with the kernel left busy.
nbval: venv
	ELLA_LAB_CLAIMS=strict $(PY) -m pytest --nbval --nbval-current-env --nbval-cell-timeout=120 --nbval-sanitize-with notebooks/nbval_sanitize.cfg \
		--ignore=notebooks/exercises/student notebooks

test: lint unit nbval

# Both modes on a busy machine. Strict (the test run): 3 nbval runs with one core spinning; every claim holds.
# Learner (plain kernel, no test variables): 3 Run Alls with both cores spinning; no cell raises, no notebook
# takes over 3x its quiet time (measured first), and a missed claim shows as a box (listed).
stress: venv
	PY=$(PY) bash scripts/busy_nbval.sh 3
	$(PY) scripts/learner_run.py --runs 3 --busy 2 --compare

notebooks: venv
	$(PY) -m ella_lab.tools.execute notebooks

student: venv
	$(PY) -m ella_lab.tools.student notebooks/exercises
	$(PY) -m ella_lab.tools.student --walkthrough notebooks

# The answer key (key/ is not committed): each answer cell holds its solution_text; run, every check says Correct.
key: venv
	$(PY) -m ella_lab.tools.student --walkthrough notebooks --key key
	$(PY) -m ella_lab.tools.execute key
	$(PY) -m ella_lab.tools.student --verdicts key

# Grade a class: make grade SUBMISSIONS="folder-or-zip ..." [OUT=grades] [SHEET=phase3]
OUT ?= grades
grade: venv
	@test -n "$(SUBMISSIONS)" || { echo "make grade SUBMISSIONS=path/to/notebooks [OUT=grades] [SHEET=phase3]"; exit 2; }
	$(PY) -m ella_lab grade $(SUBMISSIONS) --out $(OUT) $(if $(SHEET),--sheet $(SHEET),)

# The hand-out: the walkthrough, the student sheets and a package without solutions or hidden cases.
HANDOUT ?= handout
handout: venv
	$(PY) -m ella_lab.tools.handout --out $(HANDOUT)

bench: venv
	$(PY) benchmarks/run.py

demo: venv
	$(PY) -m ella_lab demo

clean:
	rm -rf $(VENV) .venv-3.* .pytest_cache .ruff_cache key handout benchmarks/results/*.csv benchmarks/results/*.png

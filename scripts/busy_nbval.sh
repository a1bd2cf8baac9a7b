#!/usr/bin/env bash
# Strict nbval over the walkthrough, RUNS times in a row (default 3), while another process keeps one
# core busy: the notebooks' asserts on measurements must hold on a busy machine. Stops at the first
# failing run; prints the wall time of each run. `make stress` runs it with the project's venv.
#
#   scripts/busy_nbval.sh [RUNS]
#   PY=.venv-3.13/bin/python NOTEBOOKS=notebooks/07-resilience-patterns.ipynb scripts/busy_nbval.sh 5
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUNS=${1:-3}
NOTEBOOKS=${NOTEBOOKS:-notebooks/[0-9][0-9]-*.ipynb}
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "RUNS must be a positive integer, got '$RUNS'" >&2; exit 2; }
[[ -x "$PY" ]] || { echo "no Python at '$PY' (run make venv, or set PY)" >&2; exit 2; }

# The busy core: a pure-Python spin loop in its own process, killed however this script ends.
# pytest runs in the background and the script waits for it, so Ctrl-C or kill stops both at once.
"$PY" -c 'while True: pass' &
spinner=$!
nbval=
trap 'kill $nbval "$spinner" 2>/dev/null; wait 2>/dev/null' EXIT
trap 'exit 130' INT TERM
echo "busy core: pid $spinner spinning; $RUNS strict nbval runs over $NOTEBOOKS"

for ((run = 1; run <= RUNS; run++)); do
    kill -0 "$spinner" 2>/dev/null || { echo "the busy-core process died" >&2; exit 1; }
    started=$(date +%s.%N)
    ELLA_LAB_CLAIMS=strict "$PY" -m pytest -p no:cacheprovider -q --nbval --nbval-current-env --nbval-cell-timeout=120 \
        --nbval-sanitize-with notebooks/nbval_sanitize.cfg $NOTEBOOKS &  # unquoted: a glob
    nbval=$!
    wait "$nbval"
    code=$?
    nbval=
    wall=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    echo "=== run $run of $RUNS: wall ${wall} s, pytest exit $code"
    if ((code != 0)); then
        echo "stopped at the first failing run ($run of $RUNS)" >&2
        exit "$code"
    fi
done
echo "=== $RUNS of $RUNS runs passed with one core busy"

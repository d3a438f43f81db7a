#!/usr/bin/env bash
# The project's whole test suite: notebook tests (including cells flagged slow), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} MPLBACKEND=Agg
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
BIN=$(dirname "$PY")
"$PY" tools/make_readme.py --check
"$BIN/ruff" check videolights   # the exported library: undefined / unused names (settings in pyproject.toml)
"$BIN/nbdev_test" --flags slow --n_workers 1 --timing   # --timing: each notebook's seconds in the log
set +e
"$PY" -m pytest -q --durations=30 tests/ "$@"   # the 30 slowest tests in the log
rc=$?
set -e
# exit 5 is "no tests collected": a run that tests nothing fails (a wrong path or -k filter must not pass)
if [ $rc -eq 5 ]; then echo "pytest: no tests collected: failing" >&2; fi
exit $rc

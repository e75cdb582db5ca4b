#!/usr/bin/env bash
# One-time setup, safe to re-run: a virtual environment in .venv holding eo_nb (editable) and its dev tools.
# Use PYTHON=/path/to/python3.11 to choose the interpreter (3.10+).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import eo_nb, nbdev, fastai, torch, papermill" 2>/dev/null || [ setup.py -nt .venv/.eo_nb_installed ] || [ settings.ini -nt .venv/.eo_nb_installed ]; then
  echo "setup: installing eo_nb and its dependencies into .venv (first time: a few minutes)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import eo_nb, nbdev, fastai, torch, papermill" || { echo "setup: install failed" >&2; exit 1; }
  touch .venv/.eo_nb_installed
fi
mkdir -p runs
echo "setup: ready (.venv/bin/python: eo_nb $(.venv/bin/python -c 'import eo_nb; print(eo_nb.__version__)'), torch $(.venv/bin/python -c 'import torch; print(torch.__version__)' 2>/dev/null))"

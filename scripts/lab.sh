#!/usr/bin/env bash
# Set everything up (skipping what is done) and open the workbench: JupyterLab on notebooks/.
#   bash scripts/lab.sh                         localhost:8888, token printed below
#   bash scripts/lab.sh --public --port 8888    listen on 0.0.0.0 (a GPU rental's open port)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${PYTHON:-python3}" -m sam2nb lab "$@"

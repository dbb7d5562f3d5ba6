#!/usr/bin/env bash
# Set up everything, then start JupyterLab on 127.0.0.1 with a live simulated proposal and the
# quickstart notebook open. The URL to open is printed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/setup.sh
exec .venv/bin/python -m damnit_nb demo "$@"

#!/usr/bin/env bash
# Set up everything (and DAMNIT 0.4.0 as a test oracle), then run every test: unit tests,
# notebooks (nbval) and browser tests.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/setup.sh
bash scripts/setup-peers.sh
export DAMNIT_PYTHON="$here/.venv-damnit/bin/python"
exec .venv/bin/python -m pytest tests damnit_nb/notebooks/tutorials --nbval-lax -p no:cacheprovider "$@"

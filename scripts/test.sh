#!/usr/bin/env bash
# Set up everything, then run every test: unit tests, notebooks (nbval) and browser tests.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/setup.sh
exec .venv/bin/python -m pytest tests notebooks --nbval-lax -p no:cacheprovider "$@"

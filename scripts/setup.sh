#!/usr/bin/env bash
# Set up everything damnit_nb needs on a fresh Debian machine, idempotently:
# Debian's chromium (browser tests), a virtual environment in .venv with the package
# installed in editable mode with its test and demo extras.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

if ! command -v chromium >/dev/null 2>&1; then
    echo "setup: installing Debian's chromium" >&2
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv" >&2
    "$python" -m venv .venv
fi
stamp=.venv/.damnit_nb-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing damnit_nb[test,demo] into .venv" >&2
    # (pip warns about unreachable local indexes on some machines: keep the log readable)
    .venv/bin/python -m pip install -q --upgrade pip 2> >(grep -v "is ignored: it is neither" >&2)
    .venv/bin/python -m pip install -q -e ".[test,demo]" 2> >(grep -v "is ignored: it is neither" >&2)
    touch "$stamp"
fi

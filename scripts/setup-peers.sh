#!/usr/bin/env bash
# The peers the tests compare damnit_nb with, each in its own environment so their
# dependencies never mix with damnit_nb's: DAMNIT 0.4.0 in .venv-damnit (its own Python
# runs DAMNIT's API and context loading as an oracle, through DAMNIT_PYTHON), with what its
# context runner and figures need (EXtra-data, matplotlib, pyflakes).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

python=${PYTHON:-python3}
stamp=.venv-damnit/.installed-damnit-0.4.0-2
if [ ! -f "$stamp" ]; then
    echo "setup: installing damnit==0.4.0 into .venv-damnit (test oracle)" >&2
    rm -rf .venv-damnit
    "$python" -m venv .venv-damnit
    .venv-damnit/bin/python -m pip install -q --upgrade pip 2> >(grep -v "is ignored: it is neither" >&2)
    .venv-damnit/bin/python -m pip install -q "damnit==0.4.0" "extra-data==1.25.0" matplotlib pyflakes 2> >(grep -v "is ignored: it is neither" >&2)
    touch "$stamp"
fi

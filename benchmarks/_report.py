"""Writing one benchmark's section of BENCHMARKS.md, leaving the other sections alone."""

import os.path as osp
import re

__all__ = ["write_section", "browser_versions"]

_HEADER = """# Benchmarks

Each section below is written by the command it names; rerun that command to update it.
No test asserts these timings.
"""


def write_section(path, name, text):
    """Put *text* between ``<!-- begin name -->`` and ``<!-- end name -->`` in *path*."""
    block = f"<!-- begin {name} -->\n{text.strip()}\n<!-- end {name} -->\n"
    old = open(path).read() if osp.exists(path) else _HEADER
    pattern = re.compile(rf"<!-- begin {re.escape(name)} -->.*?<!-- end {re.escape(name)} -->\n?",
                         re.S)
    if pattern.search(old):
        new = pattern.sub(lambda m: block, old)
    else:
        if "<!-- begin " not in old:
            old = _HEADER  # a page from before sections: start again
        new = old.rstrip("\n") + "\n\n" + block
    with open(path, "w") as f:
        f.write(new)


def browser_versions(*packages):
    """Chromium's version and those of the Python ``packages`` (their distribution names)
    the browser benchmarks name, as one line."""
    import subprocess
    from importlib.metadata import version

    try:
        chromium = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True,
                                  text=True, timeout=30).stdout.split(" built")[0].strip()
    except (OSError, subprocess.SubprocessError):
        chromium = "Chromium"
    names = {"jupyterlab": "JupyterLab"}
    parts = [f"{names.get(p, p)} {version(p)}" for p in packages]
    return f"{chromium or 'Chromium'} (headless), " + ", ".join(parts)

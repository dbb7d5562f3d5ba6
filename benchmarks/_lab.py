"""What the browser benchmarks share: a notebook open in JupyterLab in headless Chromium."""

from __future__ import annotations

import json
import os.path as osp
from contextlib import contextmanager

__all__ = ["lab_notebook"]

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@contextmanager
def lab_notebook(root, name, notebook, env=None, screenshots=None):
    """A `lab.LabPage` showing ``notebook`` (a dict, written as ``name`` into the Lab's root)
    in a JupyterLab server under ``root`` (this tree first on the kernels' path, ``env``
    added), its cells not run yet. Stops the browser and the server after."""
    from playwright.sync_api import sync_playwright

    from lab import LabPage, LabServer, launch_chromium

    server = LabServer(osp.join(root, "lab"), env={"PYTHONPATH": REPO, **(env or {})})
    server.start()
    try:
        (server.root_dir / name).write_text(json.dumps(notebook))
        with sync_playwright() as p:
            context = launch_chromium(p, osp.join(root, "chromium-profile"))
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.set_default_timeout(60_000)
                lab = LabPage(page, server, artifacts=screenshots or root, prefix="bench-")
                lab.open_notebook(name)
                yield lab
            finally:
                context.close()
    finally:
        server.stop()

"""The command line's ``notebooks`` and ``dashboard``, and what each subcommand imports."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from damnit_nb.__main__ import main
from damnit_nb.serve_dashboard import ENV_PROPOSAL, ENV_Y, NOTEBOOK
from damnit_nb.tutorials import QUICKSTART, TUTORIALS_DIR

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "h5py", "ipywidgets", "xarray", "pandas", "ipydatagrid", "bqplot")


def test_the_package_holds_the_tutorials_and_the_dashboard_notebook():
    names = sorted(p.name for p in TUTORIALS_DIR.glob("*.ipynb"))
    assert names[:3] == ["01-quickstart.ipynb", "02-context-and-processing.ipynb",
                         "03-the-table.ipynb"]
    assert QUICKSTART.is_file()
    source = "".join(json.loads(NOTEBOOK.read_text())["cells"][0]["source"])
    assert "damnit_nb.dashboard(proposal, y=y)" in source


def test_notebooks_copies_the_tutorials_and_keeps_a_changed_one(tmp_path, capsys):
    target = tmp_path / "my-notebooks"
    assert main(["notebooks", str(target)]) == 0
    shipped = sorted(p.name for p in TUTORIALS_DIR.glob("*.ipynb"))
    assert sorted(p.name for p in target.iterdir()) == shipped
    assert (target / QUICKSTART.name).read_bytes() == QUICKSTART.read_bytes()
    assert capsys.readouterr().out.count(": copied") == len(shipped)

    mine = target / QUICKSTART.name
    mine.write_text('{"my": "changes"}')
    assert main(["notebooks", str(target)]) == 0
    out = capsys.readouterr()
    assert f"{mine}: kept your changed copy" in out.err and "--force" in out.err
    assert out.out.count("already there, unchanged") == len(shipped) - 1
    assert mine.read_text() == '{"my": "changes"}'

    assert main(["notebooks", str(target), "--force"]) == 0
    assert f"{mine}: replaced your changed copy" in capsys.readouterr().out
    assert mine.read_bytes() == QUICKSTART.read_bytes()


def test_notebooks_into_a_file_says_so(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["notebooks", str(tmp_path / "file")]) == 2
    assert "damnit-nb notebooks: error:" in capsys.readouterr().err


def test_dashboard_serves_the_notebook_with_voila_on_localhost(tmp_path, monkeypatch, capsys):
    from damnit_nb import serve_dashboard

    calls = []
    monkeypatch.setattr(serve_dashboard.os, "execve",
                        lambda path, argv, env: calls.append((path, argv, env)))
    monkeypatch.setenv(ENV_Y, "left over")
    proposal = tmp_path / "p002012"
    proposal.mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["dashboard", "p002012", "--port", "8999"]) == 0
    [(path, argv, env)] = calls
    assert path == sys.executable
    assert argv[1:4] == ["-m", "voila", str(NOTEBOOK)]
    assert "--Voila.ip=127.0.0.1" in argv and "--port=8999" in argv
    token = next(a.split("=", 1)[1] for a in argv if a.startswith("--token="))
    assert env[ENV_PROPOSAL] == str(proposal) and ENV_Y not in env
    assert f"http://127.0.0.1:8999/?token={token}" in capsys.readouterr().out

    assert main(["dashboard", "1234", "--y", "energy"]) == 0
    assert calls[-1][2][ENV_PROPOSAL] == "1234" and calls[-1][2][ENV_Y] == "energy"


@pytest.mark.parametrize("proposal, said", [("nowhere/p1", "no proposal directory at"),
                                            ("twelve", "a number or a directory")])
def test_dashboard_of_a_bad_proposal_says_so(tmp_path, monkeypatch, capsys, proposal, said):
    monkeypatch.chdir(tmp_path)
    assert main(["dashboard", proposal]) == 2
    assert said in capsys.readouterr().err


def test_dashboard_without_voila_says_what_to_install(tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "voila" else real(name, *a))
    assert main(["dashboard", str(tmp_path)]) == 2
    assert "pip install 'damnit_nb[dashboard]'" in capsys.readouterr().err


_IMPORTED = """
import runpy, sys
sys.argv = ["damnit-nb", *sys.argv[1:]]
try:
    runpy.run_module("damnit_nb", run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code
print("HEAVY", sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


def imported(*args, cwd=REPO):
    """The heavy modules ``damnit-nb ARGS`` imported, run in a new process."""
    out = subprocess.run([sys.executable, "-c", _IMPORTED.format(heavy=HEAVY), *map(str, args)],
                         cwd=cwd, capture_output=True, text=True, timeout=120)
    line = [x for x in out.stderr.splitlines() if x.startswith("HEAVY ")]
    assert line, out.stderr
    return eval(line[-1][6:]), out


@pytest.mark.parametrize("args", [["--help"], ["notebooks", "--help"], ["dashboard", "--help"],
                                  ["demo", "--help"], ["ls", "--help"]])
def test_a_subcommand_imports_only_what_it_needs(args):
    heavy, out = imported(*args)
    assert heavy == [], out.stderr
    assert "usage: damnit-nb" in out.stdout


def test_notebooks_imports_nothing_heavy(tmp_path):
    heavy, out = imported("notebooks", tmp_path / "nb")
    assert heavy == [], out.stderr
    assert (tmp_path / "nb" / QUICKSTART.name).is_file()

"""The same context files loaded and run by DAMNIT itself and by damnit_nb give the same thing.

Set DAMNIT_PYTHON to a Python with `damnit` (0.4) installed to run these; they are skipped
otherwise. DAMNIT is only an oracle here: it runs in a subprocess, loads the file with its own
context machinery, runs it on a stand-in run (the number 10) and prints what it found.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from damnit_nb.context import ContextFileError, load_context_file
from damnit_nb.engine import RunMeta, compute_run

DAMNIT_PYTHON = os.environ.get("DAMNIT_PYTHON")

pytestmark = pytest.mark.skipif(
    not DAMNIT_PYTHON, reason="set DAMNIT_PYTHON to a Python with damnit installed")

ORACLE = textwrap.dedent("""
    import json, sys, types
    from pathlib import Path
    import damnit
    sys.path.insert(0, str(Path(damnit.__file__).parent / "ctxsupport"))
    sys.modules.setdefault("extra_proposal", types.ModuleType("extra_proposal"))
    from ctxrunner import ContextFile

    try:
        ctx = ContextFile.from_py_file(Path(sys.argv[1]))
    except Exception as e:
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(0)
    variables = {
        name: {"title": v.title, "tags": sorted(v.tags or ()), "deps": v.arg_dependencies(),
               "data": v.data.value, "cluster": bool(v.cluster),
               "transient": bool(v.transient), "description": v.description,
               "summary": v.summary}
        for name, v in ctx.vars.items()
    }
    if len(sys.argv) < 3:  # loading only
        print(json.dumps({"vars": variables}))
        sys.exit(0)
    res = ctx.execute(10, 7, 1234, json.loads(sys.argv[2]))
    values = {name: cell.data.item() if hasattr(cell.data, "item") else cell.data
              for name, cell in res.cells.items()
              if name != "start_time" and cell.data is not None}  # we store nothing for None
    print(json.dumps({"vars": variables, "values": values}))
""")

CASES = {
    "prefixes": '''
        @Group(tags=["XGM"])
        class XGM:
            device_name: str

            @Variable(title="Pulse Energy", tags=["Energy"])
            def pulse_energy(self, run):
                """Mean pulse energy."""
                return 1

            @Variable(title="Doubled")
            def doubled(self, run, e: "self#pulse_energy"):
                return 2 * e

        xgm = XGM(name="xgm_sa2", title="XGM Diag", device_name="SA2")
        other = XGM(device_name="SA1", sep=" | ")

        @Variable
        def total(run, d: "var#*.doubled"):
            return sum(d.values())
    ''',
    "nested names": '''
        @Group
        class Inner:
            @Variable
            def val(self, run):
                return 1

        @Group
        class Mid:
            inner: Inner

        @Group
        class Outer:
            inner: Inner

            @Variable
            def out(self, run, val: "self#inner.val"):
                return val + 1

        outer = Outer(inner=Inner())
        shared = Inner()
        deep = Outer(inner=Inner())
        alt = Outer(inner=shared)
        mid = Mid(inner=shared)
        named = Outer(name="explicit", inner=Inner())
        cust = Outer(inner=Inner(name="custom"))
        dotted = Outer(name="a.b", inner=Inner())
    ''',
    "field links": '''
        @Variable
        def base(run):
            return 5

        @Group
        class Leaf:
            linked_base: Variable
            scale: int = 2

            @Variable
            def scaled(self, run, value: "self#linked_base"):
                return value * self.scale

        @Group
        class Mid:
            leaf: Leaf
            offset: int = 4

            @Variable
            def total(self, run, value: "self#leaf.scaled"):
                return value + self.offset

        @Group
        class Outer:
            mid: Mid
            factor: int = 2

            @Variable
            def final(self, run, value: "self#mid.total"):
                return value * self.factor

            @Variable
            def extra(self, run, value: "self#mid.leaf.linked_base"):
                return 2 * value

        leaf = Leaf(name="leaf", linked_base=base, scale=2)
        mid = Mid(name="mid", leaf=leaf, offset=4)
        outer = Outer(name="outer", mid=mid, factor=2)
        again = Leaf(linked_base=mid.total, scale=3)
    ''',
    "globs": '''
        @Variable
        def base_a(run):
            return run

        @Variable
        def base_b(run):
            raise ValueError("no data")

        @Variable
        def base_c(run):
            return None

        @Variable
        def some(run, d: "var#base_*"):
            return sorted(d)[0] + str(len(d))

        @Variable
        def none(run, d: "var#base_[bc]"):
            return len(d)

        @Variable
        def none_default(run, d: "var#base_[bc]" = {"x": 1}):
            return len(d)

        @Group
        class Other:
            @Variable
            def var_a(self, run):
                return 1

            @Variable
            def var_b(self, run):
                return 2

        @Group
        class G:
            other: Other

            @Variable
            def total(self, run, data: "self#other.var_*"):
                return sum(data.values())

        @Group
        class H:
            upstream: Other | None = None

            @Variable
            def var_x(self, run, x: "self#upstream.var_a"):
                return x + 1

            @Variable
            def var_y(self, run):
                return 2

            @Variable
            def total(self, run, data: "self#var_*"):
                return sum(data.values())

        g = G(other=Other(name="blah"))
        h = H()
        h2 = H(upstream=Other(name="u"))
    ''',
    "missing links": '''
        @Variable
        def var(run):
            return 1

        @Group
        class A:
            @Variable
            def var(self, run):
                return 41

        @Group
        class B:
            upstream: A | None = None
            other_var: Variable | None = None

            @Variable
            def needs_upstream(self, run, value: "self#upstream.var"):
                return value + 1

            @Variable
            def optional(self, run, value: "self#upstream.var" = 42,
                         other_value: "self#other_var" = -1):
                return other_value * (value + 1)

            @Variable
            def after(self, run, value: "self#needs_upstream"):
                return value + 1

            @Variable
            def glob(self, run, data: "self#upstream.va*"):
                return 1

        b = B(name="b")
        c = B(upstream=A(), other_var=var)
    ''',
    "inheritance and tags": '''
        @Group(tags=["BaseTag"])
        class Base:
            label: str = "abc"

            @Variable(title="BaseVar")
            def base(self, run):
                return 5

        @Group
        class Derived(Base):
            age: int = 12

            @Variable(title="ChildVar", tags="child")
            def child(self, run, base: "self#base"):
                return base + self.age + len(self.label)

        @Group(tags=["AltTag", "Other"])
        class DerivedAlt(Base):
            @Variable(title="AltVar")
            def alt(self, run):
                return 7

        derived = Derived(name="derived")
        alt = DerivedAlt(name="alt", title="Alt")
        override = DerivedAlt(tags="Override")
        untagged = Derived(tags=[])
    ''',
    "subclass fields": '''
        @Group
        class A:
            base: int = 1

            @Variable
            def base_val(self, run):
                return self.base

        @Group
        class B(A):
            value: int

            @Variable
            def combined(self, run):
                return self.base + self.value

        b = B(value=3)
    ''',
    "proc and cluster": '''
        @Variable(data="proc")
        def proc_a(run):
            return 1

        @Variable(cluster=True)
        def heavy(run):
            return 2

        @Variable
        def after_proc(run, a: "var#proc_a"):
            return a

        @Variable
        def after_after(run, a: "var#after_proc", h: "var#heavy"):
            return a + h

        @Variable(data="raw")
        def raw_only(run):
            return 3

        @Group
        class G:
            src: Variable | None = None

            @Variable(cluster=True)
            def big(self, run):
                return 4

            @Variable
            def uses(self, run, b: "self#big", s: "self#src"):
                return b + s

        g = G(src=after_proc)
    ''',
    "params": '''
        @Variable
        def given(run, p: "param#factor"):
            return p * run

        @Variable
        def defaulted(run, p: "param#offset" = 5):
            return p + run

        @Variable
        def missing(run, p: "param#nothing"):
            return p
    ''',
}

ERROR_CASES = {
    "reserved field": '''
        @Group
        class Bad:
            name: str
        bad = Bad(name="bad")
    ''',
    "reserved attribute": '''
        @Group
        class Bad:
            tags = ["nope"]
        bad = Bad(name="bad")
    ''',
    "two names": '''
        @Group
        class G:
            @Variable
            def val(self, run):
                return 1
        g = G()
        alias = g
    ''',
    "nested at one depth": '''
        @Group
        class Inner:
            @Variable
            def val(self, run):
                return 1

        @Group
        class Outer:
            inner: Inner

        __shared = Inner()
        outer1 = Outer(inner=__shared)
        outer2 = Outer(inner=__shared)
    ''',
    "duplicate instance names": '''
        @Group
        class G:
            @Variable
            def val(self, run):
                return 1
        g1 = G(name="dup")
        g2 = G(name="dup")
    ''',
    "link to a non-variable": '''
        @Group
        class G:
            blah: int = 5

            @Variable
            def out(self, run, v: "self#blah"):
                return v
        g = G()
    ''',
    "link to nothing": '''
        @Group
        class G:
            @Variable
            def out(self, run, v: "self#no_such_group.x"):
                return v
        g = G()
    ''',
    "glob inside a path": '''
        @Group
        class Other:
            @Variable
            def var(self, run):
                return 1

        @Group
        class G:
            other: Other

            @Variable
            def out(self, run, v: "self#other*.var"):
                return v
        g = G(other=Other(name="other"))
    ''',
    "cycle in a group": '''
        @Group
        class G:
            @Variable
            def a(self, run, v: "self#b"):
                return v

            @Variable
            def b(self, run, v: "self#a"):
                return v
        g = G(name="g")
    ''',
    "glob matching nothing": '''
        @Variable
        def a(run, d: "var#nothing_*" = None):
            return 1
    ''',
    "unknown name": '''
        @Variable
        def a(run, d: "var#nothing" = None):
            return 1
    ''',
    "raw after proc": '''
        @Variable(data="proc")
        def p(run):
            return 1

        @Variable
        def mid(run, x: "var#p"):
            return x

        @Variable(data="raw")
        def r(run, x: "var#mid"):
            return x
    ''',
    "same titles from groups": '''
        @Group
        class G:
            @Variable(title="V")
            def v(self, run):
                return 1
        g = G(title="T")
        h = G(title="T")
    ''',
    "bad mymdc field": '''
        @Variable
        def a(run, s: "mymdc#proposal_title"):
            return s
    ''',
}

PARAMS = {"factor": 3}


def context_file(tmp_path, body):
    path = tmp_path / "context.py"
    path.write_text("from damnit_ctx import Variable, Group\n" + textwrap.dedent(body))
    return path


def damnit(path):
    proc = subprocess.run([DAMNIT_PYTHON, "-c", ORACLE, str(path), json.dumps(PARAMS)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ours(path, execute=True):
    defs = load_context_file(path)
    variables = {
        name: {"title": v.title, "tags": sorted(v.tags), "deps": v.arg_dependencies(),
               "data": v.data or "raw", "cluster": bool(v.cluster),
               "transient": bool(v.transient), "description": v.description,
               "summary": v.summary}
        for name, v in defs.variables.items()
    }
    if not execute:
        return {"vars": variables}
    outcome = compute_run(defs, list(defs.order), lambda: 10,
                          RunMeta(7, 1234, Path("/nowhere")), params=PARAMS)
    values = {r.name: r.summary for r in outcome.results if not r.is_error}
    return {"vars": variables, "values": values}


@pytest.mark.parametrize("case", CASES)
def test_same_variables_and_values_as_damnit(tmp_path, case):
    path = context_file(tmp_path, CASES[case])
    expected = damnit(path)
    assert "error" not in expected, expected
    got = ours(path)
    assert got["vars"] == expected["vars"]
    assert got["values"] == expected["values"]


@pytest.mark.parametrize("case", ERROR_CASES)
def test_load_errors_where_damnit_has_them(tmp_path, case):
    path = context_file(tmp_path, ERROR_CASES[case])
    assert "error" in damnit(path)
    with pytest.raises(ContextFileError):
        load_context_file(path)


def test_damnits_own_templates_load_the_same(tmp_path, monkeypatch):
    """DAMNIT's context-file templates (which import EXtra's components: a stand-in here)."""
    stub = tmp_path / "stub" / "extra"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("")
    (stub / "components.py").write_text("XGM = XrayPulses = object\n")
    monkeypatch.setenv("PYTHONPATH", str(stub.parent))
    monkeypatch.syspath_prepend(str(stub.parent))
    for name in ("extra", "extra.components"):  # the stand-in is gone after the test
        monkeypatch.setitem(sys.modules, name, None)
        monkeypatch.delitem(sys.modules, name)
    proc = subprocess.run(
        [DAMNIT_PYTHON, "-c", "import damnit, pathlib; print(pathlib.Path(damnit.__file__)"
                              ".parent / 'ctx-templates')"],
        capture_output=True, text=True, timeout=60)
    templates = sorted(Path(proc.stdout.strip()).glob("*.py"))
    assert templates, proc.stderr
    for template in templates:
        path = tmp_path / template.name
        path.write_text(template.read_text())
        proc = subprocess.run([DAMNIT_PYTHON, "-c", ORACLE, str(path)],
                              capture_output=True, text=True, timeout=120)
        expected = json.loads(proc.stdout.strip().splitlines()[-1])
        assert "error" not in expected, expected
        assert ours(path, execute=False)["vars"] == expected["vars"]
        defs = load_context_file(path)
        assert defs.warnings == ()  # DAMNIT's templates are tidy


"""Group: the variables, names, titles, tags and links a context file's groups give.

The cases follow what DAMNIT's own tests check for groups; test_damnit_context_oracle.py
loads the same kind of files with DAMNIT itself and compares.
"""

import textwrap

import pytest

from damnit_nb.context import (
    ContextFileError, Definitions, Group, GroupError, Variable, load_context_file,
)
from damnit_nb.context.group import expand_groups, is_group
from damnit_nb.context.variable import BoundVariable

HEADER = "from damnit_ctx import Variable, Group\n"


def load(tmp_path, text):
    path = tmp_path / "context.py"
    path.write_text(HEADER + textwrap.dedent(text))
    return load_context_file(path)


def load_error(tmp_path, text):
    with pytest.raises(ContextFileError) as info:
        load(tmp_path, text)
    return info.value


def deps(defs, name):
    return defs[name].arg_dependencies()


def test_instance_name_title_and_tags_prefix_variables(tmp_path):
    defs = load(tmp_path, '''
        @Group(tags=["XGM"])
        class XGM:
            device_name: str

            @Variable(title="Pulse Energy", tags=["Energy"])
            def pulse_energy(self, run):
                """Mean pulse energy."""
                return 1

        xgm = XGM(name="xgm_sa2", title="XGM Diag", device_name="SA2_XTD6_XGM/XGM/DOOCS")
    ''')
    assert list(defs.variables) == ["xgm_sa2.pulse_energy"]
    var = defs["xgm_sa2.pulse_energy"]
    assert var.title == "XGM Diag/Pulse Energy"
    assert var.tags == ("Energy", "XGM")
    assert var.description == "Mean pulse energy."


def test_name_from_assignment_and_title_from_name(tmp_path):
    defs = load(tmp_path, '''
        @Group
        class G:
            @Variable
            def val(self, run):
                return 3

        group_name = G()
        explicit = G(name="explicit.dot")
    ''')
    assert defs["group_name.val"].title == "group_name/val"
    # an explicit dotted name is also the title, dots and all
    assert defs["explicit.dot.val"].title == "explicit.dot/val"


def test_nested_groups_take_the_shortest_name(tmp_path):
    defs = load(tmp_path, '''
        @Group
        class Inner:
            @Variable
            def val(self, run):
                return 1

        @Group
        class Outer:
            inner: Inner

            @Variable
            def out(self, run, val: "self#inner.val"):
                return val + 1

        outer = Outer(inner=Inner())
        shared = Inner()
        alt = Outer(inner=shared)
        named = Outer(name="explicit", inner=Inner())
        cust = Outer(inner=Inner(name="custom"))
    ''')
    assert defs["outer.inner.val"].title == "outer/inner/val"
    assert deps(defs, "outer.out") == {"val": "outer.inner.val"}
    assert deps(defs, "alt.out") == {"val": "shared.val"} and "alt.inner.val" not in defs
    assert deps(defs, "explicit.out") == {"val": "explicit.inner.val"}
    assert deps(defs, "cust.out") == {"val": "custom.val"}


def test_links_to_variables_given_as_fields(tmp_path):
    defs = load(tmp_path, '''
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

            @Variable
            def total(self, run, value: "self#leaf.scaled"):
                return value + 4

            @Variable
            def extra(self, run, value: "self#leaf.linked_base"):
                return 2 * value

        leaf = Leaf(name="leaf", linked_base=base)
        mid = Mid(name="mid", leaf=leaf)
        again = Leaf(linked_base=mid.total)
    ''')
    assert deps(defs, "leaf.scaled") == {"value": "base"}
    assert deps(defs, "mid.total") == {"value": "leaf.scaled"}
    assert deps(defs, "mid.extra") == {"value": "base"}
    assert deps(defs, "again.scaled") == {"value": "mid.total"}
    assert defs.order.index("mid.total") < defs.order.index("again.scaled")


def test_sep_and_instance_tags_replace_the_class_tags(tmp_path):
    defs = load(tmp_path, '''
        @Group(tags=["Default"])
        class G:
            @Variable(title="Base", tags=["Base"])
            def base(self, run):
                return 10

            @Variable(title="Adjusted")
            def adjusted(self, run, base: "self#base"):
                return base

        g = G(name="g", title="MyDiag", tags="Override", sep=" | ")
        h = G()
    ''')
    assert defs["g.adjusted"].title == "MyDiag | Adjusted"
    assert defs["g.base"].tags == ("Base", "Override")
    assert defs["g.adjusted"].tags == ("Override",)
    assert defs["h.adjusted"].tags == ("Default",)


def test_inheritance_variables_and_tags(tmp_path):
    defs = load(tmp_path, '''
        @Group(tags=["BaseTag"])
        class Base:
            label: str = "x"

            @Variable(title="BaseVar")
            def base(self, run):
                return 5

        @Group
        class Derived(Base):
            age: int = 1

            @Variable(title="ChildVar")
            def child(self, run, base: "self#base"):
                return base + self.age

        @Group(tags=["AltTag"])
        class DerivedAlt(Base):
            @Variable(title="BaseVar2")
            def base(self, run):
                return 6

        derived = Derived(age=3)
        alt = DerivedAlt(title="Alt")
    ''')
    assert set(defs.variables) == {"derived.base", "derived.child", "alt.base"}
    assert defs["derived.base"].tags == ("BaseTag",)
    assert defs["alt.base"].tags == ("AltTag",)
    assert defs["alt.base"].title == "Alt/BaseVar2"  # the subclass's variable replaces it
    assert deps(defs, "derived.child") == {"base": "derived.base"}


def test_links_to_fields_left_at_none_give_placeholders(tmp_path):
    defs = load(tmp_path, '''
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
                         other: "self#other_var" = -1):
                return other * (value + 1)

            @Variable
            def total(self, run, data: "self#upstream.var_*"):
                return sum(data.values())

        b = B(name="b")
    ''')
    assert deps(defs, "b.optional") == {"value": "b.__missing__.upstream.var",
                                        "other": "b.__missing__.other_var"}
    assert deps(defs, "b.total") == {"data": "b.__missing__.upstream.var__"}
    assert defs["b.__missing__.upstream.var"].transient


def test_glob_over_a_groups_variables(tmp_path):
    defs = load(tmp_path, '''
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

            @Variable
            def own(self, run, data: "self#tot*"):
                return data

        g = G(other=Other(name="blah"))
    ''')
    assert deps(defs, "g.total") == {"data": "blah.var_*"}
    assert defs.dependencies("g.total") == {"data": ("blah.var_a", "blah.var_b")}
    assert defs.dependencies("g.own") == {"data": ("g.total",)}


@pytest.mark.parametrize("body, message", [
    ('''
    @Group
    class Bad:
        name: str
    bad = Bad(name="bad")
    ''', "line 3: group class 'Bad' defines name"),
    ('''
    @Group
    class Bad:
        tags = ["nope"]
    ''', "line 3: group class 'Bad' defines tags"),
    ('''
    @Group
    class G:
        @Variable
        def val(self, run):
            return 1
    g = G()
    alias = g
    ''', "held as alias, g: give it name="),
    ('''
    @Group
    class G:
        @Variable
        def val(self, run):
            return 1
    g1 = G(name="dup")
    g2 = G(name="dup")
    ''', "line 9: two group instances are named 'dup'"),
    ('''
    @Group
    class G:
        blah: int = 5

        @Variable
        def out(self, run, v: "self#blah"):
            return v
    g = G()
    ''', "line 7: variable g.out, argument 'v': 'self#blah': 'blah' of group 'g' is of "
         "type 'int'"),
    ('''
    @Group
    class G:
        @Variable
        def out(self, run, v: "self#no_such_group.x"):
            return v
    g = G()
    ''', "has no attribute 'no_such_group'"),
    ('''
    @Group
    class G:
        @Variable
        def out(self, run, v: "self#other*.var"):
            return v
    g = G()
    ''', "has no attribute 'other*'"),
    ('''
    @Variable
    def dummy(run):
        return 42
    dummy.name = "g.var"

    @Group
    class G:
        @Variable
        def var(self, run):
            return -42
    g = G()
    ''', "variable name 'g.var' of a group instance is also the name of another variable"),
    ('''
    @Group
    class G:
        @Variable
        def a(self, run, v: "self#b"):
            return v

        @Variable
        def b(self, run, v: "self#a"):
            return v
    g = G()
    ''', "cycle"),
])
def test_group_problems_are_load_errors(tmp_path, body, message):
    error = load_error(tmp_path, body)
    assert any(message in p for p in error.problems), error.problems


def test_group_problems_are_reported_together(tmp_path):
    error = load_error(tmp_path, '''
        @Group
        class G:
            @Variable
            def out(self, run, v: "self#nothing"):
                return v

            @Variable(title="Same")
            def other(self, run, v: "var#nowhere"):
                return v

        g = G()
        h = G()

        @Variable(title="g/Same")
        def clash(run):
            return 1
    ''')
    text = "\n".join(error.problems)
    assert "line 5: variable g.out, argument 'v'" in text
    assert "line 5: variable h.out, argument 'v'" in text
    assert "line 9: variable 'g.other': argument 'v' needs 'var#nowhere'" in text
    assert "same title 'g/Same'" in text


def test_decorator_and_instances_in_python():
    @Group(tags="t")
    class Pair:
        factor: int = 2

        @Variable
        def a(self, run):
            return self.factor

        @Variable
        def b(self, run, a: "self#a"):
            return a * run

    p = Pair(name="p")
    assert is_group(p) and not is_group(Pair)
    assert isinstance(p.a, BoundVariable) and p.a.name == "p.a"
    assert isinstance(Pair.a, Variable)
    assert p.title == "p" and p.tags == ("t",) and p.sep == "/"
    variables, problems = expand_groups({"p": p})
    assert problems == []
    defs = Definitions(variables)
    assert defs.order == ("p.a", "p.b")
    assert defs["p.b"].func(3, a=2) == 6
    with pytest.raises(TypeError):
        Pair("positional")  # keyword-only, as DAMNIT's
    with pytest.raises(GroupError):
        Pair(tags=[""])


def test_group_settings_are_part_of_the_code_version(tmp_path):
    text = '''
        @Group
        class G:
            offset: float = 0.0

            @Variable
            def val(self, run):
                return self.offset

        g = G(offset={})
    '''
    one = load(tmp_path, text.format(1.0))
    same = load(tmp_path, text.format(1.0))
    other = load(tmp_path, text.format(2.0))
    assert one.versions["g.val"] == same.versions["g.val"] != other.versions["g.val"]


def test_group_code_raising_while_linking_is_a_load_error(tmp_path):
    error = load_error(tmp_path, '''
        @Group
        class G:
            @property
            def broken(self):
                raise RuntimeError("no detector configured")

            @Variable
            def out(self, run, v: "self#broken"):
                return v

        g = G()
    ''')
    assert error.problems == ["line 7: making the variables of the groups raised RuntimeError: "
                              "no detector configured"]

import sys
import textwrap

import pytest

from damnit_nb.context import ContextFileError, load_context_file


def write(tmp_path, text):
    path = tmp_path / "context.py"
    path.write_text(textwrap.dedent(text))
    return path


def test_damnit_style_context_file_loads(tmp_path):
    path = write(tmp_path, '''
        from damnit_ctx import Variable, Cell, Skip

        @Variable(title="XGM/Intensity", summary="mean", units="uJ")
        def xgm_intensity(run):
            """Mean pulse energy."""
            return 1.0

        @Variable(title="Doubled")
        def doubled(run, x: "var#xgm_intensity", n: "meta#run_number"):
            return 2 * x

        helper = 5  # not a variable
    ''')
    defs = load_context_file(path)
    assert list(defs.variables) == ["xgm_intensity", "doubled"]
    assert defs["xgm_intensity"].description == "Mean pulse energy."
    assert defs.order == ("xgm_intensity", "doubled")


def test_damnit_ctx_module_is_restored(tmp_path):
    sentinel = object()
    sys.modules["damnit_ctx"] = sentinel
    try:
        load_context_file(write(tmp_path, "from damnit_ctx import Variable\n"))
        assert sys.modules["damnit_ctx"] is sentinel
    finally:
        del sys.modules["damnit_ctx"]


def test_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "x = 1\ndef broken(:\n")
    with pytest.raises(ContextFileError, match=r"line 2: syntax error") as info:
        load_context_file(path)
    assert str(path) in str(info.value)


def test_code_that_raises_while_loading(tmp_path):
    path = write(tmp_path, "import math\nmath.sqrt(-1)\n")
    with pytest.raises(ContextFileError, match=r"line 2: loading raised ValueError"):
        load_context_file(path)


def test_bad_variable_names_its_line(tmp_path):
    path = write(tmp_path, '''
        from damnit_ctx import Variable

        @Variable(summary="not_numpy")
        def v(run):
            return 1
    ''')
    with pytest.raises(ContextFileError, match=r"line 4: summary must name a numpy function"):
        load_context_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(ContextFileError, match="cannot read the context file"):
        load_context_file(tmp_path / "nope.py")

"""docs/plain_docstrings.py: plain-text docstrings become valid reStructuredText
without changing what they say (the site's build runs with -W, so a docstring
docutils cannot parse would fail it)."""
import importlib.util
from pathlib import Path

SPEC = importlib.util.spec_from_file_location(
    "plain_docstrings", Path(__file__).resolve().parent.parent / "docs" / "plain_docstrings.py")
pd = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(pd)


def test_indented_block_after_a_colon_becomes_a_literal_block():
    out = pd.plain_to_rst(["Kinds:", "    locality  a sheet", "              with borders", "Done."])
    assert out[0] == "Kinds::"
    assert out[1] == "" and out[2:4] == ["    locality  a sheet", "              with borders"]
    assert out[-1] == "Done."


def test_bars_stars_and_trailing_underscores_are_escaped_but_literals_kept():
    (line,) = pd.plain_to_rst(["max |a - b| / max |b|, t*B, clip_grad_norm_, ``a|b*c``"])
    assert line == r"max \|a - b\| / max \|b\|, t\*B, clip_grad_norm\_, ``a|b*c``"
    (line,) = pd.plain_to_rst(["neuron i *receives* from"])
    assert line == "neuron i *receives* from"


def test_lists_get_blank_lines_and_napoleon_sections_are_left_alone():
    out = pd.plain_to_rst(["made fast:", "- one", "  more", "- two", "after."])
    assert out == ["made fast:", "", "- one", "  more", "- two", "", "after."]
    args = ["Args:", "    x: (T, B) inputs", "        continued", "Returns:", "    y"]
    assert pd.plain_to_rst(args) == args

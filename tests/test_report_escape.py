"""Escaping untrusted generated text for Markdown table cells."""

from __future__ import annotations

import re

import pytest

from reporting.escape import ELLIPSIS, escape_cell, escape_inline, truncate

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "a | b",
    "a \\| b",
    "first line\nsecond line\r\nthird\rfourth\u2028fifth",
    "[link](javascript:alert(1))",
    "![img](x)",
    "`code` and ```fence```",
    "# heading",
    "- list item",
    "1. ordered",
    "2)",
    "<img src=x onerror=alert(1)>",
    "<!-- comment",
    "**bold** _it_ ~~strike~~ $x^2$ :smile:",
    "trailing backslash \\",
    "nul\x00 and bidi \u202e override",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_inert_in_a_table_cell(text: str) -> None:
    out = escape_cell(text)
    assert "<script" not in out.lower()
    # the only raw angle brackets allowed are those of the <br> line breaks
    assert "<" not in out.replace("<br>", "") and ">" not in out.replace("<br>", "")
    assert "|" not in out and "\n" not in out and "\r" not in out and "\u2028" not in out
    assert "`" not in out and "](" not in out and "[" not in out
    assert "\x00" not in out and "\u202e" not in out
    assert not re.match(r"\s*([#+\-=]|\d+[.)](\s|$))", out)


def test_specific_escapes() -> None:
    assert escape_cell("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert escape_cell("a | b") == "a &#124; b"
    assert escape_cell("one\n\ntwo") == "one<br>two"
    assert escape_cell("# not a heading") == "&#35; not a heading"
    assert escape_cell("x & y") == "x &amp; y"
    assert escape_cell("1. first") == "&#49;. first"
    # a number is not an ordered-list marker
    assert escape_cell("0.05") == "0.05"
    # an existing entity is shown literally, not interpreted
    assert escape_cell("&lt;") == "&amp;lt;"
    assert escape_cell(None) == ""
    assert escape_cell(42) == "42"


def test_newline_replacement_is_configurable() -> None:
    assert escape_cell("a\nb", newline=" ") == "a b"
    assert escape_inline("a\nb | c") == "a b &#124; c"


def test_truncation_keeps_entities_whole() -> None:
    out = escape_cell("<" * 500, max_chars=10)
    assert out.endswith(ELLIPSIS)
    assert out == "&lt;" * 9 + ELLIPSIS
    assert truncate("short", 10) == "short"
    assert truncate("x" * 20, 10) == "x" * 9 + ELLIPSIS
    assert len(escape_cell("word " * 200, max_chars=50)) <= 50
    # max_chars <= 0 disables truncation
    assert escape_cell("y" * 500, max_chars=0) == "y" * 500

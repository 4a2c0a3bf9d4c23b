"""Escape untrusted generated text for a Markdown table cell (also safe inside HTML).

Model samples can contain anything: HTML, pipes, newlines, link syntax. The
cell must render as inert text on GitHub and never break the table, so every
character with meaning to Markdown or HTML becomes a numeric entity.
"""

from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "…"

# characters with markdown or html meaning anywhere in a line; entities, so no markdown parser
# (github's, python-markdown, pandoc) and no html parser gives them meaning
_ENTITIES = {
    "&": "&amp;",  # first in spirit: the mapping is applied per character, so no double escaping
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#39;",
    "|": "&#124;",  # a raw pipe would split the cell
    "`": "&#96;",  # code spans
    "\\": "&#92;",  # a trailing backslash could escape whatever follows the cell
    "[": "&#91;",  # links and images: [x](y), ![x](y)
    "]": "&#93;",
    "*": "&#42;",  # emphasis
    "_": "&#95;",
    "~": "&#126;",  # strikethrough
    "$": "&#36;",  # github math
    ":": "&#58;",  # emoji shortcodes, scheme-like text such as javascript:
}
_ESCAPE_TABLE = str.maketrans(_ENTITIES)

# block-level tokens matter only at the start of a line (a heading, list item, setext underline, ordered list)
_LEADING_TOKEN = re.compile(r"^(\s*)([#+\-=]|\d+[.)](?=\s|$))")
# identifier-like text (hashes, versions, metric names) that is safe inside a code span in a table
_SAFE_CODE = re.compile(r"[\w.:/+=@-]+")
_NEWLINES = re.compile(r"(?:\r\n|[\n\r\v\f\x85\u2028\u2029])+")


def _strip_controls(text: str) -> str:
    """Drop control and format characters (NUL, bidi overrides, zero-width joiners) except newlines and tabs."""
    return "".join(ch for ch in text if ch in "\n\r\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))


def truncate(text: str, max_chars: int) -> str:
    """Cut `text` to at most `max_chars` characters, ending with an ellipsis when cut."""
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    return text[: max_chars - 1].rstrip() + ELLIPSIS


def _escape_line(line: str) -> str:
    line = line.replace("\t", " ")
    m = _LEADING_TOKEN.match(line)
    escaped = line.translate(_ESCAPE_TABLE)
    if m:
        # neutralise the first character of the leading token with its numeric entity
        lead, token = m.group(1), m.group(2)
        escaped = lead + f"&#{ord(token[0])};" + escaped[len(lead) + 1 :]
    return escaped


def escape_cell(text: object, max_chars: int = 240, newline: str = "<br>") -> str:
    """Escape `text` for one Markdown table cell: entities for markup, `newline` between lines, truncated with an ellipsis.

    The result contains no raw `<`, `>` (except those of `newline`), `|`, backtick, or line break.
    `None` gives an empty string.
    """
    if text is None:
        return ""
    raw = _strip_controls(str(text))
    # truncate the raw text, so an entity is never cut in half
    raw = truncate(raw.strip(), max_chars)
    lines = _NEWLINES.split(raw)
    return newline.join(_escape_line(line) for line in lines)


def escape_inline(text: object, max_chars: int = 0) -> str:
    """Escape `text` for running Markdown prose: like `escape_cell`, with newlines as spaces and no truncation by default."""
    return escape_cell(text, max_chars=max_chars, newline=" ")


def code(text: object) -> str:
    """An inline code span for identifier-like text (hashes, revisions, metric names); anything else is escaped with `escape_cell`."""
    s = str(text)
    return f"`{s}`" if _SAFE_CODE.fullmatch(s) else escape_cell(s, max_chars=0)

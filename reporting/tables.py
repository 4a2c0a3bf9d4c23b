"""Number formatting, Markdown tables and the human labels of policies and curves.

Every number in the report goes through `fmt`: 3 significant digits, fixed-point
for magnitudes 1e-3..1e5 (scientific outside), so tables read consistently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from reporting.data import as_float, get

NA = "n/a"


def fmt(value: Any) -> str:
    """Format a number with 3 significant digits; ints stay exact, bools are yes/no, missing values are "n/a"."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    x = as_float(value)
    if x is None:
        return NA
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    if -3 <= magnitude < 5:
        return f"{x:.{max(0, 2 - magnitude)}f}"
    return f"{x:.2e}"


def fmt_signed(value: float) -> str:
    """`fmt` with an explicit sign, for deltas."""
    text = fmt(value)
    return text if text.startswith("-") or text == NA else "+" + text


def fmt_ci(stats: Any) -> str:
    """ "mean [ci_low, ci_high]" from a {mean, ci_low, ci_high} dict (or a bare number); "n/a" when the mean is missing."""
    if not isinstance(stats, dict):
        return fmt(stats)
    mean = as_float(stats.get("mean"))
    if mean is None:
        return NA
    lo, hi = as_float(stats.get("ci_low")), as_float(stats.get("ci_high"))
    if lo is None or hi is None:
        return fmt(mean)
    return f"{fmt(mean)} [{fmt(lo)}, {fmt(hi)}]"


def ci_of(row: Mapping[str, Any], column: str) -> dict[str, Any]:
    """{mean, ci_low, ci_high} from a flat row with <column>, <column>_ci_low, <column>_ci_high (frontier.csv, eval.csv)."""
    return {"mean": row.get(column), "ci_low": row.get(f"{column}_ci_low"), "ci_high": row.get(f"{column}_ci_high")}


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> str:
    """A GitHub Markdown table; cells must already be escaped (see `reporting.escape`)."""
    align = align or ["---"] * len(headers)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def kv_table(pairs: Sequence[tuple[str, str]], headers: tuple[str, str] = ("quantity", "value")) -> str:
    """A two-column table of (name, formatted value) pairs."""
    return md_table(list(headers), [list(p) for p in pairs])


# ---------------------------------------------------------------- labels
METHOD_LABELS = {"ppo": "PPO", "dpo": "DPO", "rloo": "RLOO", "grpo": "GRPO", "best_of_n": "best-of-n"}


def policy_label(name: str, metrics: Mapping[str, Any]) -> str:
    """A reader's name for a policy or curve key (plain text, escape before rendering).

    base -> "base policy"; an RL curve (a key of metrics.json `curves`) -> "PPO (β=0.03)" from its method and
    KL knob; best_of_n -> "best-of-n"; anything else (an extra policy named in params) is shown as named.
    """
    if name == "base":
        return "base policy"
    if name == "best_of_n":
        return "best-of-n"
    knob = as_float(get(metrics, "curves", name, "knob"))
    if knob is not None:
        method = str(get(metrics, "curves", name, "method"))
        return f"{METHOD_LABELS.get(method, method)} (β={knob:g})"
    return name

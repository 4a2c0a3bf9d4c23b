"""Number formatting and Markdown tables, including the report's summary table.

Every number in the report goes through `fmt`: 3 significant digits, fixed-point
for magnitudes 1e-3..1e5 (scientific outside), so tables read consistently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reports.data import as_float, get

NA = "n/a"

# (metric key, column header) of the summary table
SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("gold_reward", "gold reward"),
    ("proxy_reward_norm", "proxy reward (base-normalised)"),
    ("kl", "KL (nats)"),
    ("win_rate_vs_base", "win-rate vs base"),
    ("distinct_2_across_input", "distinct-2 (across-input)"),
    ("self_bleu_across_input", "self-BLEU (across-input)"),
    ("length", "length (tokens)"),
)


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


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> str:
    """A GitHub Markdown table; cells must already be escaped (see `reports.escape`)."""
    align = align or ["---"] * len(headers)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def kv_table(pairs: Sequence[tuple[str, str]], headers: tuple[str, str] = ("quantity", "value")) -> str:
    """A two-column table of (name, formatted value) pairs."""
    return md_table(list(headers), [list(p) for p in pairs])


# ---------------------------------------------------------------- summary table
@dataclass(frozen=True)
class SummaryRow:
    """One policy row: its display name and {metric: stats-dict} (best-of-n KL is a bare float, wrapped)."""

    name: str
    metrics: Mapping[str, Any]


def summary_rows(metrics: Mapping[str, Any]) -> list[SummaryRow]:
    """Rows in report order: base, ppo, any other policy (sorted), then best-of-n by increasing n."""
    policies = get(metrics, "policies") or {}
    order = [p for p in ("base", "ppo") if p in policies] + sorted(p for p in policies if p not in ("base", "ppo"))
    rows = [SummaryRow(p, policies[p] or {}) for p in order]
    best_of_n = get(metrics, "best_of_n") or {}

    def n_key(n: str) -> tuple[int, float | str]:
        x = as_float(n)
        return (0, x) if x is not None else (1, n)

    for n in sorted(best_of_n, key=n_key):
        entry = dict(best_of_n[n] or {})
        if not isinstance(entry.get("kl"), dict):
            # best-of-n KL is analytic, a single number without an interval
            entry["kl"] = {"mean": entry.get("kl")}
        rows.append(SummaryRow(f"best-of-n (n={n})", entry))
    return rows


def _mean(row: SummaryRow, metric: str) -> float | None:
    stats = row.metrics.get(metric)
    return as_float(stats.get("mean")) if isinstance(stats, dict) else as_float(stats)


def best_rows(rows: Sequence[SummaryRow], metric: str, higher_is_better: bool | None) -> set[int]:
    """Indices of the rows holding the best mean for `metric` (ties all count); empty when direction is unknown."""
    if higher_is_better is None:
        return set()
    values = {i: v for i, r in enumerate(rows) if (v := _mean(r, metric)) is not None}
    if not values:
        return set()
    best = max(values.values()) if higher_is_better else min(values.values())
    return {i for i, v in values.items() if v == best}


def summary_table(metrics: Mapping[str, Any]) -> str | None:
    """The summary table: one row per policy and best-of-n n; cells "mean [lo, hi] (Δ vs base)", the best per column in bold."""
    rows = summary_rows(metrics)
    if not rows:
        return None
    info = get(metrics, "metric_info") or {}
    base = next((r for r in rows if r.name == "base"), None)
    columns = [(k, h) for k, h in SUMMARY_COLUMNS if any(r.metrics.get(k) is not None for r in rows)]
    cells = [[r.name] for r in rows]
    for key, _ in columns:
        hib = get(info, key, "higher_is_better")
        best = best_rows(rows, key, hib if isinstance(hib, bool) else None)
        base_mean = _mean(base, key) if base is not None else None
        for i, row in enumerate(rows):
            text = fmt_ci(row.metrics.get(key))
            mean = _mean(row, key)
            if row is not base and base_mean is not None and mean is not None:
                text += f" (Δ {fmt_signed(mean - base_mean)})"
            cells[i].append(f"**{text}**" if i in best else text)
    headers = ["policy"] + [h for _, h in columns]
    return md_table(headers, cells, ["---"] + ["---:"] * len(columns))

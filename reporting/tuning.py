"""The report's account of how each method's learning rate was chosen (the record `make tune` writes).

The record (reports/tuning/tuning.json, from bench/tune.py) holds, per method, the coefficient it was tuned at and
every candidate learning rate's validation proxy, KL and objective; it holds no gold number. The section compares
the chosen rate with the rate this run's curves trained at (each curve's metrics.json), so a run whose rates were
not chosen by the record says so, with the rate it trains at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reporting.data import as_float
from reporting.tables import METHOD_LABELS, NA, fmt, md_table


def run_rates(curves: Mapping[str, Mapping[str, Any]]) -> dict[str, set[float]]:
    """{method: the learning rates its curves in this run trained at} from metrics.json's `curves` block."""
    out: dict[str, set[float]] = {}
    for summary in curves.values():
        lr = as_float(summary.get("lr"))
        if lr is not None:
            out.setdefault(str(summary.get("method")), set()).add(lr)
    return out


def as_tuned(record: Mapping[str, Any] | None, curves: Mapping[str, Mapping[str, Any]]) -> dict[str, bool | None]:
    """{method of this run: True when every curve of it trained at the tuned rate, False when not, None when the
    record has no tuning of that method or the curve does not say its rate}."""
    tuned = (record or {}).get("methods", {})
    out: dict[str, bool | None] = {}
    for method, rates in run_rates(curves).items():
        chosen = as_float(tuned.get(method, {}).get("chosen_lr"))
        out[method] = None if chosen is None else all(abs(r - chosen) <= 1e-12 * max(1.0, chosen) for r in rates)
    methods = {str(s.get("method")) for s in curves.values()}
    return {m: out.get(m) for m in sorted(methods)}


def _rate(value: Any) -> str:
    """A learning rate or coefficient as params.yaml would write it (0.0003, 3e-05)."""
    x = as_float(value)
    return NA if x is None else f"{x:g}"


def tuning_section(record: Mapping[str, Any] | None, curves: Mapping[str, Mapping[str, Any]], link: str) -> str:
    """Markdown: the procedure, one row per tuned method (each candidate's objective), and whether this run uses it."""
    if not record or not record.get("methods"):
        return (
            "No tuning record for this run's methods (`reports/tuning/tuning.json`): their learning rates are the "
            "params' values. `make tune` chooses them by the procedure below on validation prompts."
        )
    status, rates = as_tuned(record, curves), run_rates(curves)
    tail: list[str] = []
    rows = []
    for method, entry in record["methods"].items():
        runs: Sequence[Mapping[str, Any]] = entry.get("runs", [])
        cells = [
            f"{_rate(r.get('lr'))}: J {fmt(r.get('objective'))} (proxy {fmt(r.get('proxy_reward_norm'))}, KL {fmt(r.get('kl'))})"
            for r in runs
        ]
        trains_at = ", ".join(_rate(r) for r in sorted(rates.get(method, ())))
        used = {True: "yes", False: f"**no**: trains at {trains_at}", None: "not in this run"}[status.get(method)]
        rows.append(
            [
                METHOD_LABELS.get(method, method),
                _rate(entry.get("coefficient")),
                "; ".join(cells),
                _rate(entry.get("chosen_lr")),
                used,
            ]
        )
    headers = ["method", "tuned at coefficient", "lr: objective J (validation proxy, KL)", "chosen lr", "this run uses it"]
    procedure = (
        "One procedure chooses every method's learning rate, never on the gold and never on the evaluation "
        f"prompts ([record]({link})): {' '.join(str(record.get('procedure', '')).split())}"
    )
    edges = [
        METHOD_LABELS.get(method, method)
        for method, entry in record["methods"].items()
        if (lrs := [as_float(r.get("lr")) for r in entry.get("runs", [])])
        and len(lrs) > 1
        and as_float(entry.get("chosen_lr")) in (min(lrs), max(lrs))
    ]
    if edges:
        tail.insert(
            0,
            f"Chosen at the edge of the grid: {', '.join(edges)}. The best rate may lie beyond it; a wider grid "
            "(`python -m bench.tune --lrs ... --extend`) would say.",
        )
    untuned = [METHOD_LABELS.get(m, m) for m in status if m not in record["methods"]]
    tail += [f"Not tuned (the params' rate): {', '.join(untuned)}."] if untuned else []
    return "\n\n".join([procedure, md_table(headers, rows), *tail])

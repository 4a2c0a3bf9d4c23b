"""The report's appendix (reports/appendix.md): the long tables REPORT.md leaves out.

Per-point tables of every RL curve, best-of-n at every n, every metric of every final policy,
and sample 0 of each final policy on a few held-out prompts. Everything from a file is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reporting import data
from reporting.data import as_float, get
from reporting.escape import code, escape_cell
from reporting.sections import Context, gold_probe_scores, gold_probe_table
from reporting.tables import NA, ci_of, fmt, fmt_ci, md_table

CURVE_COLUMNS = (
    ("kl", "KL (nats)"),
    ("gold_reward", "gold"),
    ("proxy_reward_norm", "proxy (base std. units)"),
    ("proxy_gold_gap", "proxy − gold gap"),
    ("distinct_2_across_input", "distinct-2 across inputs"),
    ("self_bleu_across_input", "self-BLEU across inputs"),
)


def curve_tables(ctx: Context) -> list[str]:
    parts = []
    for curve in ctx.curves:
        parts.append(f"## {ctx.html_label(curve.name)}: held-out evaluation points")
        evals = data.load_eval(curve)
        if evals is None:
            parts.append(f"_Not available: `{escape_cell(curve.folder.name)}/eval.csv`._")
            continue
        columns = [(k, h) for k, h in CURVE_COLUMNS if k in evals.columns]
        rows = [[str(int(r["update"]))] + [fmt_ci(ci_of(r, k)) for k, _ in columns] for r in evals.to_dict("records")]
        parts.append(md_table(["update"] + [h for _, h in columns], rows, ["---:"] * (len(columns) + 1)))
    return parts


def best_of_n_table(ctx: Context) -> list[str]:
    bon = get(ctx.metrics, "best_of_n") or {}
    if not bon:
        return []
    columns = (
        ("kl", "KL (nats)"),
        ("gold_reward", "gold"),
        ("proxy_reward_norm", "proxy (base std. units)"),
        ("proxy_gold_gap", "proxy − gold gap"),
    )
    rows = [
        [escape_cell(n, 12)] + [fmt_ci((bon[n] or {}).get(k)) for k, _ in columns]
        for n in sorted(bon, key=lambda n: as_float(n) or 0.0)
    ]
    return ["## Best-of-n at every n", md_table(["n"] + [h for _, h in columns], rows)]


def all_metrics_table(ctx: Context) -> list[str]:
    policies = get(ctx.metrics, "policies") or {}
    if not policies:
        return []
    names = list(policies)
    info = get(ctx.metrics, "metric_info") or {}
    keys = [k for k in info if any(k in (policies[p] or {}) for p in names)]
    keys += sorted({k for p in names for k in (policies[p] or {})} - set(keys))
    rows = []
    for key in keys:
        hib = get(info, key, "higher_is_better")
        arrow = " ↑" if hib is True else " ↓" if hib is False else ""
        rows.append(
            [code(key) + arrow]
            + [fmt_ci((policies[p] or {}).get(key)) for p in names]
            + [escape_cell(get(info, key, "description") or "", 120)]
        )
    return [
        "## Every metric of every final policy",
        "↑ higher is better, ↓ lower is better (from `metric_info.json`).",
        md_table(["metric"] + [ctx.html_label(p) for p in names] + ["description"], rows),
    ]


def final_samples(ctx: Context, n_shown: int) -> list[str]:
    samples = [r for r in data.load_jsonl(ctx.results_dir / "samples.jsonl") if r.get("sample_idx", 0) == 0]
    if not samples:
        return []
    policies = list(dict.fromkeys(str(r.get("policy")) for r in samples))
    prompts = list(dict.fromkeys(str(r.get("prompt_id")) for r in samples))[:n_shown]
    by: dict[tuple[str, str], Mapping[str, Any]] = {(str(r.get("prompt_id")), str(r.get("policy"))): r for r in reversed(samples)}
    rows = []
    for pid in prompts:
        prompt = next((r.get("prompt") for r in samples if str(r.get("prompt_id")) == pid), None)
        cells = []
        for p in policies:
            rec = by.get((pid, p))
            cells.append(
                NA
                if rec is None
                else f"{escape_cell(rec.get('response'), 200)}<br>(gold {fmt(rec.get('gold_reward'))}, proxy {fmt(rec.get('proxy_reward_norm'))})"
            )
        rows.append([escape_cell(prompt, 80), *cells])
    return [
        "## Final samples",
        f"Sample 0 of each final policy on the first {len(prompts)} held-out prompts (text escaped and truncated).",
        md_table(["prompt"] + [ctx.html_label(p) for p in policies], rows),
    ]


def render_appendix(ctx: Context, n_samples_shown: int) -> str:
    parts = [
        "# rlhf-bench report: appendix",
        "The long tables behind REPORT.md; every value is mean [95% bootstrap CI] on held-out prompts.",
    ]
    parts += curve_tables(ctx) + best_of_n_table(ctx) + all_metrics_table(ctx) + final_samples(ctx, n_samples_shown)
    if probes := gold_probe_scores(ctx):
        parts += [f"## Gold probes: every text scored by {ctx.gold_name}", gold_probe_table(probes)]
    return "\n\n".join(parts) + "\n"

"""The report's sections: each function takes the loaded results and returns Markdown.

Missing optional inputs give a one-line "not available" note instead of an error.
Untrusted text (samples, paths, names from files) always goes through `reports.escape`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from reports import figures
from reports.data import as_float, get
from reports.escape import code, escape_cell, escape_inline
from reports.fits import GaoFit, fit_frontier
from reports.provenance import GitInfo, lock_rows, wall_times
from reports.tables import NA, fmt, fmt_ci, kv_table, md_table, summary_table

SECTION_TITLES = {
    "summary": "Summary",
    "frontier": "Reward–KL frontier",
    "reward_model": "Reward-model quality",
    "curves": "Training curves",
    "diversity": "Diversity",
    "samples": "Samples",
    "provenance": "Provenance and audit",
}
FIGURE_FILES = {
    "frontier": "frontier.png",
    "calibration": "rm_calibration.png",
    "proxy_vs_gold": "rm_proxy_vs_gold.png",
    "curves": "training_curves.png",
    "diversity": "diversity.png",
}


@dataclass(frozen=True)
class Context:
    """What every section may need: parsed metrics, where results live, where figures go and how links are made."""

    metrics: Mapping[str, Any]
    results_dir: Path
    report_dir: Path
    figures_dir: Path
    dpi: int

    def figure_path(self, key: str) -> Path:
        return self.figures_dir / FIGURE_FILES[key]

    def image(self, path: Path, alt: str) -> str:
        """A Markdown image link relative to the report's folder, so it renders on GitHub."""
        rel = Path(os.path.relpath(path.resolve(), self.report_dir.resolve())).as_posix()
        return f"![{escape_inline(alt)}]({rel})"


def not_available(what: str) -> str:
    """The note a section shows when its input is missing."""
    return f"_Not available: {what}._"


# ---------------------------------------------------------------- summary
def all_metrics_table(metrics: Mapping[str, Any]) -> str | None:
    """Every metric of every policy (rows) by policy (columns), as "mean [lo, hi]"."""
    policies = get(metrics, "policies") or {}
    if not policies:
        return None
    names = [p for p in ("base", "ppo") if p in policies] + sorted(p for p in policies if p not in ("base", "ppo"))
    info = get(metrics, "metric_info") or {}
    keys = [k for k in info if any(k in (policies[p] or {}) for p in names)]
    keys += sorted({k for p in names for k in (policies[p] or {})} - set(keys))
    rows = []
    for key in keys:
        hib = get(info, key, "higher_is_better")
        arrow = " ↑" if hib is True else " ↓" if hib is False else ""
        rows.append(
            [code(key) + arrow]
            + [fmt_ci((policies[p] or {}).get(key)) for p in names]
            + [escape_cell(get(info, key, "description") or "", 160)]
        )
    return md_table(["metric"] + [code(p) for p in names] + ["description"], rows)


def summary_section(ctx: Context) -> str:
    table = summary_table(ctx.metrics)
    if table is None:
        return not_available("metrics.json has no `policies` or `best_of_n` entries")
    parts = [
        "Cells are mean [95% bootstrap CI] on the held-out prompts, with the change vs the base policy in parentheses; "
        "**bold** marks the best value per column (direction from `metric_info`). Best-of-n KL is analytic, log n − (n−1)/n.",
        table,
    ]
    full = all_metrics_table(ctx.metrics)
    if full:
        parts += ["### All policy metrics", "↑ higher is better, ↓ lower is better.", full]
    return "\n\n".join(parts)


# ---------------------------------------------------------------- frontier
def _fits_table(fits: Mapping[tuple[str, str], GaoFit | None]) -> str:
    rows = []
    for (method, metric), fit in sorted(fits.items()):
        form = "d(α − βd)" if method == "best_of_n" else "d(α − β log d)"
        name = "best-of-n" if method == "best_of_n" else f"RL ({code(method)})"
        reward = metric.replace("_reward", "")
        if fit is None:
            rows.append([name, reward, form, NA, NA, NA, NA, NA])
        else:
            rows.append([name, reward, form, fmt(fit.alpha), fmt(fit.beta), fmt(fit.offset), str(fit.n_points), fmt(fit.rmse)])
    return md_table(["method", "reward", "form", "α", "β", "base reward (offset)", "points", "RMSE"], rows)


def _frontier_points(frontier: pd.DataFrame) -> str:
    rows = []
    for rec in frontier.to_dict("records"):
        gold = {"mean": rec.get("gold_reward"), "ci_low": rec.get("gold_ci_low"), "ci_high": rec.get("gold_ci_high")}
        rows.append(
            [
                code(rec.get("method")),
                escape_cell(rec.get("label")),
                fmt(rec.get("kl")),
                fmt(rec.get("sqrt_kl")),
                fmt_ci(gold),
                fmt(rec.get("proxy_reward")),
            ]
        )
    return md_table(["method", "point", "KL (nats)", "√KL", "gold reward [95% CI]", "proxy reward (base-normalised)"], rows)


def frontier_section(ctx: Context, frontier: pd.DataFrame | None) -> str:
    if frontier is None:
        return not_available("`frontier.csv` missing or empty")
    fits = fit_frontier(frontier)
    fig = figures.plot_frontier(frontier, fits, ctx.figure_path("frontier"), ctx.dpi)
    return "\n\n".join(
        [
            ctx.image(fig, "reward vs sqrt KL frontier"),
            "Fitted forms of Gao, Schulman & Hilton (2022) with d = √KL, on rewards relative to the base policy "
            "(the offset); a fit needs at least two usable points (RL: d > 0). The proxy reward is normalised to the "
            "base policy's samples (mean 0, std 1).",
            _fits_table(fits),
            "### Frontier points",
            _frontier_points(frontier),
        ]
    )


# ---------------------------------------------------------------- reward model
def reward_model_section(ctx: Context, calibration: pd.DataFrame | None, scores: pd.DataFrame | None) -> str:
    rm = get(ctx.metrics, "reward_model") or {}
    prefs = get(ctx.metrics, "preferences") or {}
    parts: list[str] = []
    if rm:
        ceiling = rm.get("accuracy_ceiling", prefs.get("accuracy_ceiling"))
        parts.append(
            kv_table(
                [
                    ("accuracy on noisy test labels", fmt(rm.get("accuracy"))),
                    ("accuracy ceiling on noisy labels (Bayes-optimal)", fmt(ceiling)),
                    ("accuracy on gold order (noise-free)", fmt(rm.get("accuracy_gold"))),
                    ("expected calibration error (ECE)", fmt(rm.get("ece"))),
                    ("Pearson r (proxy vs gold)", fmt(rm.get("gold_pearson"))),
                    ("Spearman ρ (proxy vs gold)", fmt(rm.get("gold_spearman"))),
                    ("test loss", fmt(rm.get("loss"))),
                    ("constant output", fmt(rm.get("constant_output"))),
                ]
            )
        )
        if rm.get("constant_output") is True:
            parts.append(
                "**Warning: the reward model's output is constant; its accuracy and the PPO results are not meaningful.**"
            )
    else:
        parts.append(not_available("`reward_model` section of metrics.json"))
    if prefs:
        keys = ("n_pairs_train", "n_pairs_test", "tie_rate", "flip_rate", "label_gold_agreement", "accuracy_ceiling")
        parts += ["### Preference data", kv_table([(code(k), fmt(prefs.get(k))) for k in keys if k in prefs])]
    parts.append("### Calibration")
    if calibration is not None:
        parts.append(
            ctx.image(
                figures.plot_calibration(calibration, ctx.figure_path("calibration"), ctx.dpi, as_float(rm.get("ece"))),
                "reward-model reliability diagram",
            )
        )
    else:
        parts.append(not_available("`reward_model/calibration.csv`"))
    parts.append("### Proxy vs gold on held-out samples")
    if scores is not None:
        fig = figures.plot_proxy_vs_gold(
            scores, ctx.figure_path("proxy_vs_gold"), ctx.dpi, as_float(rm.get("gold_pearson")), as_float(rm.get("gold_spearman"))
        )
        parts.append(ctx.image(fig, "proxy vs gold scatter"))
    else:
        parts.append(not_available("`reward_model/scores.csv`"))
    return "\n\n".join(parts)


# ---------------------------------------------------------------- curves, diversity
def curves_section(ctx: Context, curves: Mapping[str, Mapping[str, pd.DataFrame]]) -> str:
    fig = figures.plot_training_curves(curves, ctx.figure_path("curves"), ctx.dpi)
    if fig is None:
        return not_available("no DVCLive curves under `*/live/plots/metrics/`")
    rows = [
        [code(stage), code(name), str(len(df)), fmt(df["value"].iloc[-1])]
        for stage, named in curves.items()
        for name, df in named.items()
    ]
    missing = [s for s in ("base_policy", "reward_model", "ppo") if s not in curves]
    parts = [ctx.image(fig, "training curves"), md_table(["stage", "curve", "points", "last value"], rows)]
    if missing:
        parts.append(not_available("curves of " + ", ".join(missing)))
    return "\n\n".join(parts)


def diversity_section(ctx: Context) -> str:
    policies = get(ctx.metrics, "policies") or {}
    fig = figures.plot_diversity(policies, ctx.figure_path("diversity"), ctx.dpi)
    if fig is None:
        return not_available("no `*_per_input` / `*_across_input` metrics in metrics.json")
    names = list(policies)
    rows = []
    for stem in figures.diversity_metrics(policies):
        for suffix in ("_per_input", "_across_input"):
            key = stem + suffix
            if any(key in (policies[p] or {}) for p in names):
                rows.append([code(key)] + [fmt_ci((policies[p] or {}).get(key)) for p in names])
    note = "Per-input: diversity among the k samples of one prompt; across-input: among one sample per prompt (Kirk et al. 2023). Self-BLEU is lower for more diverse text."
    return "\n\n".join([ctx.image(fig, "diversity per policy"), note, md_table(["metric"] + [code(p) for p in names], rows)])


# ---------------------------------------------------------------- samples
def _sample_cell(rec: Mapping[str, Any] | None) -> str:
    if rec is None:
        return NA
    score = f"gold {fmt(rec.get('gold_reward'))}, proxy {fmt(rec.get('proxy_reward'))}, {fmt(rec.get('n_tokens'))} tokens"
    return f"{escape_cell(rec.get('response'))}<br>({score})"


def samples_section(samples: list[dict[str, Any]] | None, n_shown: int) -> str:
    if not samples:
        return not_available("`samples.jsonl` missing or empty")
    first = [r for r in samples if r.get("sample_idx", 0) in (0, None)]
    prompt_ids: list[Any] = list(dict.fromkeys(str(r.get("prompt_id")) for r in first))[:n_shown]
    found = list(dict.fromkeys(str(r.get("policy")) for r in first))
    policies = [p for p in ("base", "ppo") if p in found] + [p for p in found if p not in ("base", "ppo")]
    by_key = {(str(r.get("prompt_id")), str(r.get("policy"))): r for r in reversed(first)}
    rows = []
    for pid in prompt_ids:
        prompt = next(r.get("prompt") for r in first if str(r.get("prompt_id")) == pid)
        rows.append([escape_cell(pid, 40), escape_cell(prompt, 160)] + [_sample_cell(by_key.get((pid, p))) for p in policies])
    intro = f"The first {len(prompt_ids)} held-out prompts, sample 0 of each policy (text escaped and truncated)."
    return "\n\n".join([intro, md_table(["prompt id", "prompt"] + [code(p[:40]) for p in policies], rows)])


# ---------------------------------------------------------------- provenance
def _fenced(text: str, lang: str) -> str:
    # a fence longer than any backtick run inside, so the content cannot close it
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def provenance_section(metrics: Mapping[str, Any], git: GitInfo | None, lock: Any, params_text: str | None) -> str:
    run = get(metrics, "run") or {}
    repo = f"{code(git.rev)} (uncommitted code or params: {fmt(git.dirty)})" if git else "not available (no git or not a repository)"
    parts = [
        kv_table(
            [("git revision at report time", repo)]
            # metrics.json carries no revision by default (so it stays identical across commits); show one if present
            + ([("git revision recorded by the pipeline", code(run["git_rev"]))] if run.get("git_rev") else [])
            + [
                ("seed", fmt(run.get("seed"))),
                ("device", escape_cell(run.get("device")) if run.get("device") else NA),
            ]
        )
    ]
    times = wall_times(metrics)
    parts.append("### Wall-clock time per stage")
    if times:
        total = sum(t for _, t in times if t is not None)
        parts.append(
            md_table(["stage", "wall time (s)"], [[code(s), fmt(t)] for s, t in times] + [["**total**", f"**{fmt(total)}**"]])
        )
    else:
        parts.append(not_available("no `wall_s` in metrics.json"))
    packages = run.get("packages") or {}
    parts.append("### Package versions")
    parts.append(
        md_table(["package", "version"], [[code(k), code(v)] for k, v in sorted(packages.items())])
        if packages
        else not_available("`run.packages` in metrics.json")
    )
    parts.append("### dvc.lock: hashes of every stage's deps and outs")
    rows = lock_rows(lock)
    parts.append(
        md_table(
            ["stage", "kind", "path", "hash", "size (bytes)"], [[code(s), k, code(p), code(h), s2] for s, k, p, h, s2 in rows]
        )
        if rows
        else not_available("dvc.lock")
    )
    parts.append("### Parameters (params.yaml)")
    parts.append(_fenced(params_text, "yaml") if params_text is not None else not_available("params.yaml"))
    return "\n\n".join(parts)

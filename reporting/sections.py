"""The report's sections: each function takes the loaded results and returns Markdown.

Missing optional inputs give a one-line "not available" note instead of an error.
Everything that comes from a file (policy names, samples, probe texts, paths) goes
through `reporting.escape` before it is rendered.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reporting import data, figures
from reporting.data import Curve, as_float, get
from reporting.escape import code, escape_cell, escape_inline
from reporting.fits import MIN_POINTS, GaoFit, fit_frontier
from reporting.matched import best_gold_point, matched_kl_table, winner_at_kl
from reporting.provenance import GitInfo
from reporting.study import curve_label, interval_cell
from reporting.summary import curve_roles
from reporting.tables import METHOD_LABELS, NA, ci_of, fmt, fmt_ci, fmt_signed, kv_table, md_table, policy_label

SECTION_TITLES = {
    "summary": "Summary",
    "finding": "The finding: where gold peaks",
    "seeds": "Across seeds",
    "gold_parts": "What moved the gold: sentiment, fluency, repetition",
    "agreement": "Does an independent judge agree?",
    "frontier": "Reward–KL frontier",
    "methods": "Methods at matched KL",
    "tuning": "How each method's learning rate was chosen",
    "reward_model": "Reward-model quality",
    "gold": "Gold scorer sanity",
    "diversity": "Diversity of the final policies",
    "curves": "Training curves",
    "provenance": "Provenance",
}
FIGURE_FILES = {
    "frontier": "frontier.png",
    "reward_model": "reward_model.png",
    "curves": "training_curves.png",
}
BEST_OF_N_SHOWN = ("1", "4", "16", "64")
# summary columns: (metric, header, bold the best?) -- only metrics whose direction says "better"; never KL or the proxy
SUMMARY_COLUMNS = (
    ("gold_reward", "gold reward", True),
    ("proxy_reward_norm", "proxy reward (base std. units)", False),
    ("kl", "KL to base (nats)", False),
    ("win_rate_vs_base", "win-rate vs base (gold)", True),
    ("distinct_2_across_input", "distinct-2 across inputs", True),
)
DIVERSITY_COLUMNS = (
    ("distinct_2_per_input", "distinct-2 per input"),
    ("distinct_2_across_input", "distinct-2 across inputs"),
    ("self_bleu_across_input", "self-BLEU across inputs ↓"),
    ("ead_across_input", "EAD across inputs"),
    ("repetition", "repeated bigrams ↓"),
    ("perplexity", "perplexity under base ↓"),
    ("corpus_copy_rate", "copies 8 words of the corpus ↓"),
)
ARGMAX_SHARES_SHOWN = 3  # the updates most often drawn as the peak; the rest are in metrics.json


@dataclass
class Context:
    """What every section may need: parsed metrics, the RL curves, labels, and where figures go and how links are made."""

    metrics: Mapping[str, Any]
    results_dir: Path
    report_dir: Path
    figures_dir: Path
    dpi: int
    n_samples_shown: int = 4
    curves: list[Curve] = field(default_factory=list)
    frontier: pd.DataFrame | None = None
    peaks: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    study: Mapping[str, Any] | None = None  # the seed study (reporting.study) when one of its runs is this run
    study_dir: Path | None = None
    # bench/gold_agreement.py's record when it scored this run (same metrics.json), else None; where it lives
    agreement: Mapping[str, Any] | None = None
    agreement_file: Path | None = None
    agreement_status: str = "missing"  # reporting.data.load_agreement's: this run, another run, unnamed, missing

    def label(self, name: str) -> str:
        """The reader's label of a policy/curve key, plain text."""
        return policy_label(name, self.metrics)

    def html_label(self, name: str) -> str:
        """The reader's label, escaped for Markdown."""
        return escape_cell(self.label(name), 80)

    @property
    def gold_name(self) -> str:
        return str(get(self.metrics, "run", "gold") or "gold")

    @property
    def colors(self) -> dict[str, str]:
        """One colour per curve (figures.curve_colors), passed to every figure so a curve looks the same in each."""
        return figures.curve_colors([(c.name, c.method) for c in self.curves])

    def figure_path(self, key: str) -> Path:
        return self.figures_dir / FIGURE_FILES[key]

    def link(self, path: Path) -> str:
        """`path` relative to the report's folder, so links render on GitHub."""
        return Path(os.path.relpath(Path(path).resolve(), self.report_dir.resolve())).as_posix()

    def image(self, path: Path, alt: str) -> str:
        return f"![{escape_inline(alt)}]({self.link(path)})"


def not_available(what: str) -> str:
    """The note a section shows when its input is missing."""
    return f"_Not available: {what}._"


def stored_peaks(curves: Sequence[Curve], metrics: Mapping[str, Any]) -> dict[str, dict[str, Any] | None]:
    """Each RL curve's peak as the evaluate stage recorded it (metrics.json `overoptimisation`, metrics.frontier.curve_peak)."""
    stored = get(metrics, "overoptimisation") or {}
    return {c.name: stored.get(c.name) if isinstance(stored.get(c.name), dict) else None for c in curves}


# ---------------------------------------------------------------- summary
def _verdict(p: Mapping[str, Any] | None) -> str:
    """One line saying what one curve's points show (plain text, numbers only)."""
    if not p:
        return "too few evaluation points to locate a peak"
    kl = f"KL {fmt(p['peak_kl'])} nats"
    if p.get("overoptimised"):
        return (
            f"gold peaks at {kl} then falls ({fmt(p['peak_gold_reward'])} → {fmt(p['last_gold_reward'])}, CIs disjoint) "
            f"while the proxy keeps rising: over-optimisation"
        )
    if p["peak_point"] == p["last_point"] or not (as_float(p.get("gold_drop")) or 0.0) > 0:
        return f"gold is highest at the last point (KL {fmt(p['last_kl'])} nats): no peak within this KL budget"
    disjoint = p["last_gold_reward_ci_high"] < p["peak_gold_reward_ci_low"]
    start = "gold never rises above its first evaluation point" if p["peak_point"] == 0 else f"gold peaks at {kl}"
    if disjoint:
        return f"{start} and then falls, but so does the proxy: the policy got worse on both, not over-optimisation of the proxy"
    return f"{start}; the fall after it ({fmt(p['gold_drop'])}) is within the CIs: no clear peak"


def study_covers(study: Mapping[str, Any] | None, metrics: Mapping[str, Any]) -> bool:
    """True when one of the seed study's runs is this run: the same seed, the same curve roles and knobs, and the same
    peak and end numbers per curve (so a study of other params, or of an older run, is never cited)."""
    if not isinstance(study, Mapping):
        return False
    seed = get(metrics, "run", "seed")
    mine = next((r for r in study.get("runs") or [] if r.get("seed") == seed), None)
    curves, peaks = get(metrics, "curves") or {}, get(metrics, "overoptimisation") or {}
    if mine is None or not curves:
        return False
    roles = curve_roles(curves)
    if {f"{m}.{r}" for m, r in roles.values()} != set(mine.get("curves") or {}):
        return False
    for name, (method, role) in roles.items():
        theirs, p = mine["curves"][f"{method}.{role}"], peaks.get(name) or {}
        same = theirs.get("knob") == curves[name].get("knob") and all(
            isinstance(p.get(k), (int, float)) and math.isclose(theirs[f], p[k], rel_tol=1e-9, abs_tol=1e-12)
            for f, k in (("peak_kl", "peak_kl"), ("last_gold", "last_gold_reward"))
        )
        if not same:
            return False
    return True


def seeds_sentence(ctx: Context) -> str:
    """How many seeds carry the finding, from the seed study; or that this is one seed."""
    if not ctx.study:
        return (
            "_One seed._ No seed study of these params exists yet: `make seeds` repeats the whole run over seeds and "
            "this report then states in how many seeds each curve over-optimises."
        )
    n = ctx.study["n_seeds"]
    parts = [
        f"{escape_cell(curve_label(c['method'], c['knob']))} in {c['overoptimises_in']} of {n}"
        for c in ctx.study["curves"].values()
    ]
    link = f"[seed study]({ctx.link(ctx.study_dir / 'seeds.md')})" if ctx.study_dir else "seed study"
    return f"**Across {n} seeds** ({link}), a curve over-optimises in: " + "; ".join(parts) + "."


def headline(ctx: Context) -> str:
    """The finding in one or two sentences, for the summary, with its seed count."""
    return headline_one_seed(ctx) + " " + seeds_sentence(ctx)


def headline_one_seed(ctx: Context) -> str:
    if not ctx.peaks:
        return "No RL curve in these results, so no peak to report."
    over = [(c, p) for c, p in ctx.peaks.items() if p and p.get("overoptimised")]
    if over:
        parts = [
            f"{ctx.html_label(c)}: gold peaks at KL {fmt(p['peak_kl'])} nats ({fmt(p['peak_gold_reward'])}) and falls to "
            f"{fmt(p['last_gold_reward'])} by KL {fmt(p['last_kl'])} while the proxy rises "
            f"({fmt(p['peak_proxy_reward'])} → {fmt(p['last_proxy_reward'])})"
            for c, p in over
        ]
        return "**Over-optimisation shows.** " + "; ".join(parts) + "."
    return (
        "**No RL curve shows over-optimisation here** (gold falling, with disjoint CIs, while the proxy rises); "
        "what each curve shows is in the finding below."
    )


def summary_rows(ctx: Context) -> list[tuple[str, Mapping[str, Any]]]:
    """(escaped label, metrics) per row: base, each PPO curve's final policy, extra policies, best-of-n at a few n."""
    policies = get(ctx.metrics, "policies") or {}
    curve_names = [c.name for c in ctx.curves]
    order = [p for p in ["base", *curve_names] if p in policies] + sorted(
        p for p in policies if p != "base" and p not in curve_names
    )
    rows = [(ctx.html_label(p), policies[p] or {}) for p in order]
    bon = get(ctx.metrics, "best_of_n") or {}
    shown = [n for n in BEST_OF_N_SHOWN if n in bon] or sorted(bon, key=lambda n: as_float(n) or 0.0)
    for n in shown:
        entry = dict(bon[n] or {})
        if not isinstance(entry.get("kl"), dict):
            entry["kl"] = {"mean": entry.get("kl")}  # analytic, log n - (n-1)/n: no interval
        rows.append((f"best-of-n (n={escape_cell(n, 12)})", entry))
    return rows


def _mean(stats: Any) -> float | None:
    return as_float(stats.get("mean")) if isinstance(stats, dict) else as_float(stats)


def summary_section(ctx: Context) -> str:
    run = get(ctx.metrics, "run") or {}
    intro = (
        f"Policies are scored by the **gold** scorer {code(ctx.gold_name)} (the stand-in for human judgement) and trained against a "
        "**proxy**: a reward model fitted to noisy preference labels, reported in standard deviations of its score on "
        "base-policy samples (PPO, RLOO and GRPO optimise its score; DPO learns from the same preference pairs it was fitted to). Best-of-n picks, among n base-policy samples, the one the proxy scores highest. "
        f"Seed {fmt(run.get('seed'))}; every number is mean [95% bootstrap CI] on held-out prompts."
    )
    if get(ctx.metrics, "preferences", "gold_available") is False:
        intro = (
            "**No gold for this data.** The preferences are real labels from a file or the hub, so there is no simulated human "
            "to judge the policies: every reward below is the learned reward model's (the **proxy** the policies optimised), in "
            "standard deviations of its score on base-policy samples, so this run cannot show over-optimisation. The reward "
            f"model's held-out preference accuracy is in the reward-model section. Seed {fmt(run.get('seed'))}; mean [95% CI]."
        )
    rows = summary_rows(ctx)
    if not rows:
        return "\n\n".join([intro, headline(ctx), not_available("metrics.json has no `policies` or `best_of_n` entries")])
    info = get(ctx.metrics, "metric_info") or {}
    columns = [(k, h, b) for k, h, b in SUMMARY_COLUMNS if any(m.get(k) is not None for _, m in rows)]
    cells = [[label] for label, _ in rows]
    for key, _, bold in columns:
        hib = get(info, key, "higher_is_better")
        means = {i: v for i, (_, m) in enumerate(rows) if (v := _mean(m.get(key))) is not None}
        best = set()
        if bold and isinstance(hib, bool) and means:
            target = max(means.values()) if hib else min(means.values())
            best = {i for i, v in means.items() if v == target}
        for i, (_, m) in enumerate(rows):
            text = fmt_ci(m.get(key))
            cells[i].append(f"**{text}**" if i in best else text)
    table = md_table(["policy"] + [h for _, h, _ in columns], cells, ["---"] + ["---:"] * len(columns))
    note = "**Bold**: best gold, win-rate and diversity (never the proxy, which is the optimised target, nor KL). Best-of-n KL is analytic."
    return "\n\n".join(p for p in [intro, headline(ctx), agreement_sentence(ctx), table, note] if p)


# ---------------------------------------------------------------- across seeds
def seeds_section(ctx: Context) -> str:
    if not ctx.study:
        return seeds_sentence(ctx)
    n = ctx.study["n_seeds"]
    rows = [
        [
            escape_cell(curve_label(c["method"], c["knob"])),
            f"{c['overoptimises_in']} of {c['seeds']}",
            interval_cell(c["peak_kl"]),
            interval_cell(c["peak_gold"]),
            interval_cell(c["last_gold"]),
            interval_cell(c["gold_drop"]),
        ]
        for c in ctx.study["curves"].values()
    ]
    table = md_table(
        ["curve", "over-optimises in", "KL at peak (nats)", "gold at peak", "gold at end", "drop"], rows, ["---"] + ["---:"] * 5
    )
    wins = []
    for k, counts in (ctx.study.get("winners") or {}).items():
        if counts:
            ranked = sorted(counts.items(), key=lambda mc: -mc[1])
            wins.append(f"KL {k}: " + ", ".join(f"{METHOD_LABELS.get(m, m)} {c} of {n}" for m, c in ranked))
    intro = (
        f"{seeds_sentence(ctx)} Seeds {', '.join(str(s) for s in ctx.study['seeds'])}, each a full run (pretraining, "
        "labels, reward model, every curve). A seed counts as over-optimising when the selection-aware peak − end test "
        "is significant (p < 0.05) and the proxy at the end is above the proxy at the peak. Cells: mean [95% Student-t "
        "interval across seeds]."
    )
    parts = [intro, table]
    if wins:
        parts.append("Highest gold at matched KL (each method's best curve), in how many seeds: " + "; ".join(wins) + ".")
    figure = ctx.study_dir / "seeds_frontier.png" if ctx.study_dir else None
    if figure is not None and figure.is_file():
        parts.append(ctx.image(figure, "gold vs KL per curve over seeds: mean, min-max band and every seed"))
    return "\n\n".join(parts)


# ---------------------------------------------------------------- the finding
def _arrow(p: Mapping[str, Any], column: str) -> str:
    return f"{fmt_ci(_pick(p, 'peak', column))} → {fmt_ci(_pick(p, 'last', column))}"


def _pick(p: Mapping[str, Any], prefix: str, column: str) -> dict[str, Any]:
    return {
        "mean": p.get(f"{prefix}_{column}"),
        "ci_low": p.get(f"{prefix}_{column}_ci_low"),
        "ci_high": p.get(f"{prefix}_{column}_ci_high"),
    }


def _eval_at(evals: pd.DataFrame | None, update: Any, column: str) -> dict[str, Any]:
    if evals is None or column not in evals.columns:
        return {}
    rows = evals[evals["update"] == update]
    return ci_of(rows.iloc[0].to_dict(), column) if len(rows) else {}


def finding_section(ctx: Context) -> str:
    if not ctx.curves:
        return not_available("no RL curve (`ppo` section of metrics.json)")
    rows, verdicts = [], []
    for curve in ctx.curves:
        p = ctx.peaks.get(curve.name)
        label = ctx.html_label(curve.name)
        verdicts.append(f"- {label}: {_verdict(p)}.")
        if not p:
            rows.append([label] + [NA] * 5)
            continue
        evals = data.load_eval(curve)
        div = (
            f"{fmt_ci(_eval_at(evals, p['peak_point'], 'distinct_2_across_input'))} → "
            f"{fmt_ci(_eval_at(evals, p['last_point'], 'distinct_2_across_input'))}"
        )
        rows.append(
            [
                label,
                f"{fmt_ci(_pick(p, 'peak', 'kl'))} (update {p['peak_point']} of {p['last_point']})",
                _arrow(p, "gold_reward"),
                _arrow(p, "proxy_reward"),
                _arrow(p, "proxy_gold_gap"),
                div,
            ]
        )
    intro = (
        "Each trained curve (PPO, DPO, RLOO, GRPO) is evaluated on held-out prompts every few updates. Per curve: the KL at which gold peaks, and each quantity "
        "at the peak → at the last point. The proxy–gold gap is proxy − gold with both standardised by the base policy's statistics "
        "(common units); distinct-2 across inputs measures diversity."
    )
    table = md_table(
        [
            "curve",
            "gold peaks at KL (nats) [CI at that update]",
            "gold",
            "proxy (base std. units)",
            "proxy − gold gap",
            "distinct-2 across inputs",
        ],
        rows,
        ["---"] + ["---:"] * 5,
    )
    return "\n\n".join([intro, table, "\n".join(verdicts), selection_block(ctx), peak_samples(ctx)])


def _interval(s: Mapping[str, Any], key: str) -> str:
    return f"[{fmt(s.get(f'{key}_ci_low'))}, {fmt(s.get(f'{key}_ci_high'))}]"


def _argmax_shares(shares: Mapping[str, Any]) -> str:
    """The updates most often the argmax, with their share of resamples: "40: 0.62, 30: 0.25"."""
    top = sorted(((as_float(v) or 0.0, k) for k, v in shares.items()), key=lambda vk: -vk[0])[:ARGMAX_SHARES_SHOWN]
    return ", ".join(f"{escape_cell(k, 12)}: {fmt(v)}" for v, k in top if v > 0) or NA


def selection_block(ctx: Context) -> str:
    """Where the peak is and whether gold falls after it, with the choice of the peak inside the bootstrap
    (metrics.json `peak_selection`, metrics.peak_stats); the table above conditions on the chosen update."""
    stored = get(ctx.metrics, "peak_selection") or {}
    found = [(c, stored.get(c.name)) for c in ctx.curves if isinstance(stored.get(c.name), dict)]
    if not found:
        return not_available("selection-aware peak statistics (`peak_selection` in metrics.json)")
    rows = [
        [
            ctx.html_label(c.name),
            f"{fmt(s.get('peak_kl'))} {_interval(s, 'peak_kl')}",
            f"{fmt(s.get('peak_point'))} {_interval(s, 'peak_point')}",
            _argmax_shares(s.get("argmax_share") or {}),
            f"{fmt(s.get('gold_drop'))} {_interval(s, 'gold_drop')}",
            _interval(s, "gold_drop_fixed"),
            fmt(s.get("gold_drop_p_value")),
        ]
        for c, s in found
    ]
    first = found[0][1]
    note = (
        "**Which interval is which.** Above, the interval after the peak's KL is the KL estimate *at the chosen update* "
        "(prompts resampled, the update held fixed): it does not say where the peak is. Below, every interval resamples "
        f"the held-out prompts once for all evaluation points of a curve (they share their prompts; {fmt(first.get('n_boot'))} "
        "resamples) and **recomputes the argmax in each resample**: the *peak location interval* is the KL, and the update, "
        "of the recomputed peak; the shares say how often each update is the argmax. Peak − last gold is a *paired* "
        "difference over the same prompts: its interval recomputes the argmax too (never below 0, since the recomputed "
        "peak is at least the last point; optimistic near ties), the next column holds the peak at the observed update "
        '(no selection), and p is the one-sided reality-check p-value (White 2000) of "no update beats the last one", '
        "the choice of the best update included: read whether gold falls from p."
    )
    table = md_table(
        [
            "curve",
            "peak KL (nats) [location interval]",
            "peak update [location interval]",
            "share of resamples as argmax",
            "peak − last gold [argmax recomputed]",
            "[peak update held]",
            "p (one-sided)",
        ],
        rows,
        ["---"] + ["---:"] * 6,
    )
    return "\n\n".join(["### Where is the peak? Selection-aware intervals", note, table])


def peak_samples(ctx: Context) -> str:
    """Sample 0 of a few held-out prompts at the peak and at the end, side by side, for the curve whose gold drops most."""
    candidates = [(c, ctx.peaks.get(c.name)) for c in ctx.curves if ctx.peaks.get(c.name)]
    if not candidates:
        return not_available("peak and end samples (no curve with evaluation points)")
    curve, p = max(candidates, key=lambda cp: as_float(cp[1].get("gold_drop")) or 0.0)
    records = [r for r in data.load_jsonl(curve.folder / "eval_samples.jsonl") if r.get("sample_idx", 0) == 0]
    first = min((r.get("update") for r in records if as_float(r.get("update")) is not None), default=None)
    # without a peak before the end, compare the first evaluation point with the end instead
    at, at_name = (p["peak_point"], "the peak") if p["peak_point"] != p["last_point"] else (first, "the start")
    by = {(r.get("update"), str(r.get("prompt_id"))): r for r in records}
    prompts = list(dict.fromkeys(str(r.get("prompt_id")) for r in records if r.get("update") == p["last_point"]))[
        : ctx.n_samples_shown
    ]
    if not prompts or at is None:
        return not_available(f"`{curve.folder.name}/eval_samples.jsonl` for {ctx.label(curve.name)}")

    def cell(rec: Mapping[str, Any] | None) -> str:
        if rec is None:
            return NA
        return f"{escape_cell(rec.get('response'), 200)}<br>(gold {fmt(rec.get('gold_reward'))}, proxy {fmt(rec.get('proxy_reward_norm'))})"

    rows = []
    for pid in prompts:
        end = by.get((p["last_point"], pid))
        rows.append([escape_cell((end or {}).get("prompt"), 80), cell(by.get((at, pid))), cell(end)])
    title = f"### Samples at {at_name} and at the end: {ctx.html_label(curve.name)}"
    note = (
        "The curve with the largest gold drop; sample 0 of the first held-out prompts, text escaped and truncated, "
        "gold and proxy per sample."
    )
    header = ["prompt", f"at {at_name} (update {at})", f"at the end (update {p['last_point']})"]
    return "\n\n".join([title, note, md_table(header, rows)])


# ---------------------------------------------------------------- frontier
def fit_status(fit: GaoFit | None) -> str:
    """Why a fit is drawn or not, in words."""
    if fit is None:
        return "too few points (fewer than two distinct √KL)"
    if fit.n_points < MIN_POINTS:
        return f"too few points ({fit.n_points} < {MIN_POINTS})"
    if not fit.beta > 0:
        return "not supported by these points (β ≤ 0: no peak)"
    with np.errstate(over="ignore"):
        peak = as_float(fit.peak())
    if peak is None:
        return "drawn; its peak lies far beyond the fitted range"
    where = f"; peak at KL {fmt(peak**2)}" + ("" if fit.d_min <= peak <= fit.d_max else " (outside the fitted range)")
    return "drawn" + where


def fits_table(ctx: Context, fits: Mapping[tuple[str, str], GaoFit | None]) -> str:
    order = [c.name for c in ctx.curves] + ["best_of_n"]
    keys = sorted(fits, key=lambda k: (order.index(k[0]) if k[0] in order else len(order), k[0], k[1] != "gold_reward"))
    rows = []
    for curve, metric in keys:
        fit = fits[(curve, metric)]
        form = "d(α − βd)" if curve == "best_of_n" else "d(α − β log d)"
        nums = [fmt(fit.alpha), fmt(fit.beta), str(fit.n_points), fmt(fit.rmse)] if fit else [NA] * 4
        rows.append([ctx.html_label(curve), "gold" if metric == "gold_reward" else "proxy", form, *nums, fit_status(fit)])
    return md_table(["curve", "reward", "form", "α", "β", "points", "RMSE", "fit"], rows)


def frontier_section(ctx: Context) -> str:
    if ctx.frontier is None:
        return not_available("`frontier.csv` missing or empty")
    fits = fit_frontier(ctx.frontier)
    labels = {c: ctx.label(c) for c in set(ctx.frontier["curve"])}
    fig, _ = figures.plot_frontier(
        ctx.frontier,
        fits,
        labels,
        ctx.figure_path("frontier"),
        ctx.dpi,
        curve_order=[c.name for c in ctx.curves],
        gold_name=ctx.gold_name,
        colors=ctx.colors,
    )
    note = (
        "The x axis is √KL, as in Gao, Schulman & Hilton (2022), with its ticks labelled in KL (nats). Left: gold reward in "
        "its own units. Right: gold (solid) and proxy (dashed) of each curve on one axis, both in standard deviations of "
        "their scores on base-policy samples, so the proxy pulling away from the gold is a gap between two lines of one "
        "colour. Trained curves join their evaluation points in update order; best-of-n uses the unbiased all-subsets "
        "estimator over the base policy's samples. Dotted: fits of Gao et al., with d = √KL and rewards relative to the base policy, "
        f"are drawn only when supported (β > 0, at least {MIN_POINTS} points), only over the fitted range of d and, for gold, "
        f"inside the gold's range [{figures.GOLD_RANGE[0]:g}, {figures.GOLD_RANGE[1]:g}]."
    )
    return "\n\n".join(
        [
            ctx.image(fig, "gold reward, and gold and proxy in base-policy std. units, vs KL per curve"),
            note,
            fits_table(ctx, fits),
        ]
    )


# ---------------------------------------------------------------- methods at matched KL
KL_BUDGETS_NATS = (1.0, 3.0, 6.0, 12.0, 24.0)  # spans best-of-64's analytic KL (~3) to a PPO run's end (~25-55)


def methods_section(ctx: Context) -> str:
    if ctx.frontier is None:
        return not_available("`frontier.csv` missing or empty")
    names = [c.name for c in ctx.curves] + (["best_of_n"] if (ctx.frontier["curve"] == "best_of_n").any() else [])
    curve_rows = ctx.frontier[ctx.frontier["method"] != "policy"]
    table = matched_kl_table(ctx.frontier, names, KL_BUDGETS_NATS)
    if len(names) < 1 or not curve_rows["gold_reward"].notna().any():
        return not_available("no gold reward on the frontier")
    rows = []
    for name in names:
        best = best_gold_point(curve_rows[curve_rows["curve"] == name])
        best_cell = f"{fmt_ci(_stats(best))} at KL {fmt(best['kl'])} ({escape_cell(best['label'], 20)})" if best else NA
        rows.append([ctx.html_label(name), *(fmt_ci(_stats(table[name][k])) for k in KL_BUDGETS_NATS), best_cell])
    headers = ["curve", *(f"gold at KL {k:g}" for k in KL_BUDGETS_NATS), "best gold reached (at KL, point)"]
    verdicts = []
    for k in KL_BUDGETS_NATS:
        won = winner_at_kl({n: table[n][k] for n in names})
        if won is None:
            continue
        name, clear = won
        how = "its CI above every other curve's" if clear else "within the CIs of another curve"
        verdicts.append(f"- KL {k:g} nats: {ctx.html_label(name)}, gold {fmt_ci(_stats(table[name][k]))} ({how}).")
    note = (
        "Gold reward of each curve where it first reaches a KL budget, interpolated linearly in KL between the two "
        "evaluation points around it (CI bounds too, an approximation); blank (n/a) where a curve does not reach the "
        "budget, nothing is extrapolated. Best-of-n uses the base policy's samples and its analytic KL; trained curves "
        "(PPO, DPO, RLOO, GRPO) use their held-out evaluation points. Highest gold at each budget:"
    )
    parts = [note, "\n".join(verdicts) or "- fewer than two curves at every budget", md_table(headers, rows)]
    return "\n\n".join(parts + [cost_table(ctx, curve_rows)])


def cost_table(ctx: Context, curve_rows: pd.DataFrame) -> str:
    """What each trained curve consumed (its stage's summary and timing.json) beside the proxy-gold gap at its best point."""
    rows = []
    for curve in ctx.curves:
        summary = get(ctx.metrics, "curves", curve.name) or {}
        pairs, episodes = summary.get("pairs"), summary.get("episodes")
        count, what = (pairs, "preference pairs") if pairs is not None else (episodes, "sampled responses")
        trained_on = f"{int(count):,} {what}" if isinstance(count, int | float) else NA
        points = curve_rows[(curve_rows["curve"] == curve.name)].dropna(subset=["gold_reward"])
        gap = points.loc[points["gold_reward"].idxmax()] if not points.empty else None
        gap_cell = (
            fmt_ci(
                {"mean": gap["proxy_gold_gap"], "ci_low": gap["proxy_gold_gap_ci_low"], "ci_high": gap["proxy_gold_gap_ci_high"]}
            )
            if gap is not None and "proxy_gold_gap" in gap.index
            else NA
        )
        rows.append(
            [ctx.html_label(curve.name), trained_on, fmt(as_float((data.curve_timing(curve) or {}).get("wall_s"))), gap_cell]
        )
    if not rows:
        return ""
    note = (
        "What each curve cost: PPO, RLOO and GRPO sample the same number of responses from the same prompts; DPO trains on "
        "preference pairs of the reward model's data (no sampling). Wall time is the stage's, evaluation points included, "
        "on this run's machine. The proxy-gold gap (both in base-policy standard units) is taken at the curve's best-gold point."
    )
    return "\n\n".join([note, md_table(["curve", "trained on", "wall time (s)", "proxy − gold gap at best point"], rows)])


def _stats(point: Mapping[str, float] | None) -> dict[str, Any] | None:
    if point is None:
        return None
    return {"mean": point["gold_reward"], "ci_low": point["gold_reward_ci_low"], "ci_high": point["gold_reward_ci_high"]}


# ---------------------------------------------------------------- reward model
def reward_model_section(ctx: Context, calibration: pd.DataFrame | None, scores: pd.DataFrame | None) -> str:
    rm = get(ctx.metrics, "reward_model") or {}
    prefs = get(ctx.metrics, "preferences") or {}
    if not rm:
        return not_available("`reward_model` section of metrics.json")
    gold_acc = rm.get("gold_accuracy", rm.get("accuracy_gold"))
    ceiling = rm.get("accuracy_ceiling", prefs.get("accuracy_ceiling"))
    pairs = [
        ("accuracy on held-out preference labels", f"{fmt(rm.get('accuracy'))} (ceiling under the label noise: {fmt(ceiling)})"),
        (f"accuracy on the gold order ({code(ctx.gold_name)})", fmt(gold_acc)),
        ("expected calibration error (ECE)", fmt(rm.get("ece"))),
        (
            "proxy vs gold on held-out samples",
            f"Pearson r {fmt(rm.get('gold_pearson'))}, Spearman ρ {fmt(rm.get('gold_spearman'))}",
        ),
    ]
    if prefs:
        pairs.append(
            (
                "preference pairs (train / test), label flip rate",
                f"{fmt(prefs.get('n_pairs_train'))} / {fmt(prefs.get('n_pairs_test'))}, {fmt(prefs.get('flip_rate'))}",
            )
        )
        if prefs.get("n_identical_dropped"):
            pairs.append(
                ("pairs dropped from the file (chosen = rejected up to whitespace)", fmt(prefs.get("n_identical_dropped")))
            )
    for curve in ctx.curves:  # DPO's implicit reward beta log(pi/pi_ref) is a reward model too
        held = get(ctx.metrics, "curves", curve.name, "held_out") or {}
        if "implicit_reward_accuracy" in held:
            pairs.append(
                (
                    f"{ctx.html_label(curve.name)}: implicit reward on the same held-out pairs",
                    f"accuracy {fmt(held['implicit_reward_accuracy'])} on labels, "
                    f"{fmt(held.get('implicit_reward_accuracy_gold'))} on the gold order",
                )
            )
    parts = [kv_table(pairs)]
    if rm.get("constant_output") is True:
        parts.append("**Warning: the reward model's output is constant; its accuracy and the PPO results are not meaningful.**")
    fig = figures.plot_reward_model(
        calibration,
        scores,
        ctx.figure_path("reward_model"),
        ctx.dpi,
        ece=as_float(rm.get("ece")),
        pearson=as_float(rm.get("gold_pearson")),
        gold_name=ctx.gold_name,
        normalization=rm.get("normalization") if isinstance(rm.get("normalization"), dict) else None,
    )
    parts.append(
        ctx.image(fig, "reward-model calibration and proxy vs gold")
        if fig
        else not_available("`reward_model/calibration.csv` and `scores.csv`")
    )
    return "\n\n".join(parts)


# ---------------------------------------------------------------- the gold's parts
GOLD_PARTS = (("gold_sentiment", "sentiment"), ("gold_fluency", "fluency"), ("gold_repetition", "repetition"))


def gold_parts_section(ctx: Context) -> str:
    """Per policy, then along each curve (first point → gold peak → last point), the parts the gold multiplies."""
    policies = get(ctx.metrics, "policies") or {}
    names = [p for p in ["base", *(c.name for c in ctx.curves)] if p in policies]
    names += sorted(p for p in policies if p not in names)
    if not any("gold_fluency" in (policies[p] or {}) for p in names):
        return not_available(f"parts of the gold (the scorer {code(ctx.gold_name)} reports none)")
    note = (
        f"{code(ctx.gold_name)} = fluency × repetition × (1 + sentiment) − 1: sentiment is VADER's compound score (−1 to 1), "
        "fluency the probability that the response reads as English after its prompt (0 to 1), repetition 1 unless under "
        "80% of the words are distinct (0 at 30%). Mean [95% CI] over held-out prompts."
    )
    rows = [
        [ctx.html_label(p), fmt_ci(policies[p].get("gold_reward"))] + [fmt_ci(policies[p].get(k)) for k, _ in GOLD_PARTS]
        for p in names
    ]
    parts = [note, md_table(["policy", "gold", *(h for _, h in GOLD_PARTS)], rows, ["---"] + ["---:"] * 4)]
    curve_rows = []
    for curve in ctx.curves:
        evals, p = data.load_eval(curve), ctx.peaks.get(curve.name)
        if evals is None or "gold_fluency" not in evals or not len(evals):
            continue
        at = [evals["update"].iloc[0], p["peak_point"] if p else None, evals["update"].iloc[-1]]
        cells = [" → ".join(fmt(_eval_at(evals, u, k).get("mean")) if u is not None else NA for u in at) for k, _ in GOLD_PARTS]
        curve_rows.append([ctx.html_label(curve.name), *cells])
    if curve_rows:
        parts += [
            "Along each curve: first evaluation point → the gold's peak → the last point.",
            md_table(["curve", *(h for _, h in GOLD_PARTS)], curve_rows, ["---"] + ["---:"] * 3),
        ]
    return "\n\n".join(parts)


# ---------------------------------------------------------------- independent judge
# the gold issue's bar: rho of the golds, of the golds on the samples neither judge penalises for repetition (there the
# shared repetition factor cannot make them agree), and of the fluency parts
AGREEMENT_BAR = {"spearman": 0.6, "spearman_no_repetition": 0.6, "spearman_fluency": 0.5}
AGREEMENT_NAMES = {
    "spearman": "of the golds",
    "spearman_no_repetition": "of the golds where neither penalises repetition",
    "spearman_fluency": "of the fluency parts",
}


def agreement_shortfalls(record: Mapping[str, Any]) -> list[str]:
    """The rhos of an agreement record below their bar (or missing), as "name value < bar"."""
    out = []
    for key, bar in AGREEMENT_BAR.items():
        value = as_float(record.get(key))
        if value is None or value < bar:
            out.append(f"{AGREEMENT_NAMES[key]} {fmt(value)} < {bar:g}")
    return out


def agreement_confirms(record: Mapping[str, Any]) -> bool:
    """True when every rho of the record reaches its bar (AGREEMENT_BAR)."""
    return not agreement_shortfalls(record)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _agreement_rows(ctx: Context) -> list[tuple[str, Mapping[str, Any]]]:
    """(label, per-policy record) of each final policy the record scored (its curves are in _agreement_along_curves)."""
    per = _mapping((ctx.agreement or {}).get("per_policy"))
    return [(ctx.html_label(p), per[p]) for p in (get(ctx.metrics, "policies") or {}) if isinstance(per.get(p), Mapping)]


def _gain(record: Mapping[str, Any], base: Mapping[str, Any], key: str) -> float | None:
    mine, theirs = as_float(record.get(key)), as_float(base.get(key))
    return None if mine is None or theirs is None else mine - theirs


def agreement_sentence(ctx: Context) -> str:
    """The summary's line on the independent check: whether it confirms the gold, and which gains it does not."""
    a = ctx.agreement
    if a is None:
        return ""
    link = "[SmolLM2-135M](#does-an-independent-judge-agree)"
    if agreement_confirms(a):
        return f"**An independent judge agrees** ({link}: Spearman ρ {fmt(a.get('spearman'))} of the golds)."
    base = _mapping(_mapping(a.get("per_policy")).get("base"))
    parted = []
    for label, r in _agreement_rows(ctx):
        gold, lm = _gain(r, base, "mean_readable_sentiment"), _gain(r, base, "mean_smollm2_sentiment")
        if r is not base and gold is not None and lm is not None and gold > 0.05 and lm <= 0:
            parted.append(f"{label} {fmt_signed(gold)} by the gold, {fmt_signed(lm)} by the LM judge")
    where = f" Gains over the base policy it does not confirm: {'; '.join(parted)}." if parted else ""
    return (
        f"**An independent judge does not confirm this gold** ({link}; Spearman ρ {'; '.join(agreement_shortfalls(a))}), "
        f"so read the gold's gains as its own opinion, not as what a reader would see.{where}"
    )


# along each curve: each judge's mean gold on the same samples at the first point → the gold's peak → the last point
ALONG_CURVE_HEADERS = ("gold: first → gold's peak → last", "LM judge: the same points", "samples per point")


def _agreement_along_curves(ctx: Context) -> list[list[str]]:
    """Per curve with a gold peak: both judges' mean gold at the first point, the gold's peak and the last point."""
    per_point = _mapping((ctx.agreement or {}).get("per_point"))
    out = []
    for curve in ctx.curves:
        p = ctx.peaks.get(curve.name)
        if not p:
            continue
        key = f"{curve.folder.parent.name}/{curve.folder.name}"
        points = [_mapping(per_point.get(f"{key}@{u}")) for u in (0, p.get("peak_point"), p.get("last_point"))]
        if not all(points):
            continue
        out.append(
            [
                ctx.html_label(curve.name),
                *(" → ".join(fmt(q.get(k)) for q in points) for k in ("mean_readable_sentiment", "mean_smollm2_sentiment")),
                " / ".join(fmt(q.get("n")) for q in points),
            ]
        )
    return out


def agreement_section(ctx: Context) -> str:
    a = ctx.agreement
    rerun = "`make smollm2 && python -m bench.gold_agreement` after `dvc repro`, then `dvc repro report`"
    if a is None:
        if ctx.agreement_status == "unnamed":
            return f"The agreement record {code(str(ctx.agreement_file))} does not name the run it scored, so it is not shown: {rerun}."
        if ctx.agreement_status == "another run":
            return (
                f"The agreement record {code(str(ctx.agreement_file))} scored another run (its `run_metrics_sha256` is not "
                f"this run's results/metrics.json), so it is not shown: {rerun}."
            )
        return not_available(f"an agreement record for this run ({rerun})")
    link = f"[{escape_inline(str(ctx.agreement_file))}]({ctx.link(ctx.agreement_file)})" if ctx.agreement_file else "record"
    intro = (
        f"A second judge, {code('smollm2_sentiment')}, scores {fmt(a.get('n'))} samples of this run's final policies and "
        "curve points: SmolLM2-135M's per-word SLOR (log-probability after the prompt above the word's own), calibrated on "
        f"real against shuffled text, with the same VADER sentiment and repetition factor as {code(ctx.gold_name)} ({link}). "
        f"Spearman ρ of the two golds {fmt(a.get('spearman'))}; {fmt(a.get('spearman_no_repetition'))} on the "
        f"{fmt(a.get('n_no_repetition'))} samples neither penalises for repetition, where they differ only by fluency; of "
        f"the fluency parts {fmt(a.get('spearman_fluency'))}. The bar: "
        + ", ".join(f"{bar:g} {AGREEMENT_NAMES[k]}" for k, bar in AGREEMENT_BAR.items())
        + "."
        + (
            " It is a check, not a stricter judge: the white-box word search of `bench/gold_attack.py` fools it sooner "
            "than this gold (a list of positive words reads as fluent to it), so where the two disagree neither is the "
            "truth (bench/RESULTS.md, *The independent judge under the same attack*)."
            if ctx.gold_name == "readable_sentiment"
            else ""
        )
    )
    base = _mapping(_mapping(a.get("per_policy")).get("base"))
    rows = [
        [
            label,
            fmt(r.get("n")),
            fmt(r.get("mean_readable_sentiment")),
            fmt(r.get("mean_smollm2_sentiment")),
            *(
                fmt_signed(g) if (g := _gain(r, base, k)) is not None else NA
                for k in ("mean_readable_sentiment", "mean_smollm2_sentiment")
            ),
            fmt(r.get("mean_readable_sentiment_fluency")),
            fmt(r.get("mean_smollm2_sentiment_fluency")),
            fmt(r.get("spearman")),
        ]
        for label, r in _agreement_rows(ctx)
    ]
    headers = ["policy", "samples", "gold", "LM judge", "gold − base", "LM judge − base", "fluency", "LM fluency", "ρ"]
    parts = [intro, agreement_sentence(ctx)]
    if rows:
        parts.append(md_table(headers, rows, ["---"] + ["---:"] * 8))
    if curve_rows := _agreement_along_curves(ctx):
        parts.append(md_table(["curve", *ALONG_CURVE_HEADERS], curve_rows, ["---", "---:", "---:", "---:"]))
    worst = a.get("worst_disagreements")
    worst = [w for w in worst if isinstance(w, Mapping)][:4] if isinstance(worst, list) else []
    if worst:
        parts.append(
            "Texts the two rank furthest apart (gold fluency / LM fluency):\n\n"
            + "\n".join(
                f"- {fmt(w.get('readable_sentiment_fluency'))} / {fmt(w.get('smollm2_sentiment_fluency'))}: "
                f"{escape_cell(w.get('response'), 100)}"
                for w in worst
            )
        )
    return "\n\n".join(parts)


# ---------------------------------------------------------------- gold scorer sanity
def gold_probe_scores(ctx: Context) -> list[dict] | None:
    probes = get(ctx.metrics, "gold_probes") or {}
    scores = probes.get("scores") if isinstance(probes, dict) else None
    return [s for s in scores if isinstance(s, dict)] if isinstance(scores, list) and scores else None


def gold_probe_table(scores: list[dict]) -> str:
    rows = [
        [
            escape_cell(s.get("name"), 40),
            escape_cell(str(s.get("kind") or "").replace("_", " "), 30),
            fmt(s.get("gold")),
            escape_cell(s.get("text"), 90),
        ]
        for s in scores
    ]
    return md_table(["probe", "kind", "gold", "text"], rows, ["---", "---", "---:", "---"])


def gold_section(ctx: Context) -> str:
    scores = gold_probe_scores(ctx)
    if scores is None:
        return not_available("`gold_probes` in metrics.json")
    holds = (get(ctx.metrics, "gold_probes") or {}).get("order_holds")
    state = "**holds**" if holds is True else "**does not hold**" if holds is False else "is not recorded"
    intro = (
        f"Probe texts written for the tests (none from the corpus) scored by {code(ctx.gold_name)}. The expected order, fluent "
        f"positive > fluent neutral > fluent negative with every degenerate text below every fluent neutral one, {state}. "
        "Every probe with its score: [appendix](reports/appendix.md)."
    )
    kinds = list(dict.fromkeys(str(s.get("kind")) for s in scores))
    golds = {k: [as_float(s.get("gold")) for s in scores if s.get("kind") == k] for k in kinds}
    neutral_min = min((g for g in golds.get("fluent_neutral", []) if g is not None), default=None)
    rows = []
    for k in kinds:
        vals = [g for g in golds[k] if g is not None]
        above = (
            NA if neutral_min is None or k in ("fluent_positive", "fluent_neutral") else str(sum(g >= neutral_min for g in vals))
        )
        rows.append(
            [
                escape_cell(k.replace("_", " "), 30),
                str(len(vals)),
                fmt(float(np.mean(vals))),
                fmt(min(vals)),
                fmt(max(vals)),
                above,
            ]
        )
    table = md_table(
        ["kind", "texts", "mean gold", "min", "max", "at or above the lowest fluent neutral"], rows, ["---"] + ["---:"] * 5
    )
    wrong = [
        s
        for s in scores
        if s.get("kind") in ("degenerate", "fluent_negative")
        and neutral_min is not None
        and as_float(s.get("gold")) >= neutral_min
    ]
    parts = [intro, table]
    if wrong:
        parts.append(
            "Out of order (the judge's known blind spots):\n\n"
            + "\n".join(f"- {fmt(s.get('gold'))}: {escape_cell(s.get('text'), 100)}" for s in wrong)
        )
    return "\n\n".join(parts)


# ---------------------------------------------------------------- diversity
def diversity_section(ctx: Context) -> str:
    policies = get(ctx.metrics, "policies") or {}
    curve_names = [c.name for c in ctx.curves]
    names = [p for p in ["base", *curve_names] if p in policies] + sorted(
        p for p in policies if p != "base" and p not in curve_names
    )
    columns = [(k, h) for k, h in DIVERSITY_COLUMNS if any(k in (policies[p] or {}) for p in names)]
    if not names or not columns:
        return not_available("diversity metrics in metrics.json")
    rows = [[ctx.html_label(p)] + [fmt_ci((policies[p] or {}).get(k)) for k, _ in columns] for p in names]
    note = (
        "Per input: among the samples of one prompt; across inputs: among sample 0 of every prompt (Kirk et al. 2023). "
        "↓ lower is more diverse / more fluent. Corpus copies: share of responses that repeat 8 consecutive words "
        "(case and punctuation ignored) of the pretraining corpus' training split verbatim."
    )
    return "\n\n".join([note, md_table(["policy"] + [h for _, h in columns], rows, ["---"] + ["---:"] * len(columns))])


# ---------------------------------------------------------------- training curves
TRAINING_STEP_LABEL = "training step (PPO/RLOO/GRPO update, DPO optimizer step)"
# (eval.csv column, panel title, y label): what every trained curve is evaluated on, on the frontier's held-out prompts
HELD_OUT_PANELS = (
    ("proxy_reward_norm", "held-out proxy reward (base-policy std. units)", "proxy reward (base std. units)"),
    ("kl", "held-out KL to the base policy (nats)", "KL(policy ‖ base policy), nats"),
    ("gold_reward", "held-out gold reward", "gold reward"),
)


def eval_line(evals: pd.DataFrame, column: str) -> pd.DataFrame | None:
    """One curve's held-out `column` as step, value, low, high (its 95% CI); None when the curve lacks it."""
    if column not in evals.columns:
        return None
    ci = {k: evals[f"{column}_ci_{k}"] if f"{column}_ci_{k}" in evals.columns else np.nan for k in ("low", "high")}
    df = pd.DataFrame({"step": evals["update"], "value": evals[column], **ci}).dropna(subset=["step", "value"])
    return df if len(df) else None


def held_out_panels(ctx: Context) -> list[figures.Panel]:
    """Proxy, KL and gold of every trained curve (PPO, DPO, RLOO, GRPO) on its held-out evaluation points (eval.csv)."""
    evals = [(c, e) for c in ctx.curves if (e := data.load_eval(c)) is not None]
    colors = {ctx.label(c.name): color for c in ctx.curves if (color := ctx.colors.get(c.name))}
    markers = {ctx.label(c.name): figures.curve_marker(c.method) for c in ctx.curves}
    panels = []
    for column, title, ylabel in HELD_OUT_PANELS:
        lines = [(ctx.label(c.name), df) for c, e in evals if (df := eval_line(e, column)) is not None]
        if column == "gold_reward":
            ylabel = f"{ylabel} ({ctx.gold_name})"
        panels.append(figures.Panel(title, TRAINING_STEP_LABEL, ylabel, lines, colors, markers, in_legend=True))
    return panels


def curve_panels(ctx: Context) -> list[figures.Panel]:
    """The held-out curves of every trained curve, then the pretraining and reward-model losses."""
    panels = held_out_panels(ctx)
    for stage, title, ylabel in (
        ("base_policy", "Base policy: pretraining loss", "cross-entropy (nats/token)"),
        ("reward_model", "Reward model: training loss", "pairwise logistic loss (nats)"),
    ):
        found = data.trainer_loss(ctx.results_dir / stage / "live")
        if found is not None:
            df, in_updates = found
            panels.append(figures.Panel(title, "optimizer update" if in_updates else "logging step", ylabel, [("loss", df)]))
    return panels


def curves_section(ctx: Context) -> str:
    fig = figures.plot_panels(curve_panels(ctx), ctx.figure_path("curves"), ctx.dpi)
    if fig is None:
        return not_available("no curve's `eval.csv` and no DVCLive loss under `*/live/plots/metrics/`")
    note = (
        "Top: every trained curve (PPO, DPO, RLOO, GRPO) on its held-out evaluation points (`eval.csv`, the prompts of the "
        "frontier): proxy reward in base-policy standard units, KL to the base policy and gold reward, mean and 95% CI band, "
        "against its training step (an update of this project's PPO trainer, `rl/ppo_trainer.py`, or of TRL's RLOO and "
        "GRPO trainers; an optimizer step for DPO). One colour per curve, the same as in the frontier. Bottom: losses are "
        "DVCLive's per-step `loss.tsv`, one point per logging interval, against the optimizer update."
    )
    alt = "training curves (held-out proxy, KL and gold per curve; pretraining and reward-model losses)"
    return "\n\n".join([ctx.image(fig, alt), note])


# ---------------------------------------------------------------- provenance
def provenance_section(ctx: Context, git: GitInfo | None, appendix: Path | None) -> str:
    run = get(ctx.metrics, "run") or {}
    if git is None:
        rev = "not available (no git or not a repository)"
    elif not git.edited:
        rev = f"{code(git.rev[:12])} ({escape_cell(git.date)}), no uncommitted code or params edits"
    else:
        shown = ", ".join(code(p) for p in git.edited[:6]) + (f" and {len(git.edited) - 6} more" if len(git.edited) > 6 else "")
        rev = (
            f"{code(git.rev[:12])} ({escape_cell(git.date)}) plus edits to {shown}, which the commit adding this report "
            "holds (`git log -1 -- REPORT.md`)"
        )
    times = data.wall_times(ctx.results_dir, ctx.curves)
    total = sum(t for _, t in times if t is not None)
    packages = run.get("packages") or {}
    key = [k for k in ("torch", "transformers", "trl", "dvc", "dvclive", "python") if k in packages]
    pairs = [
        ("code and params", rev),
        ("seed, device", f"{fmt(run.get('seed'))}, {escape_cell(run.get('device')) if run.get('device') else NA}"),
        ("packages", ", ".join(f"{escape_cell(k)} {code(packages[k])}" for k in key) or NA),
        ("stage wall time (s)", (", ".join(f"{code(s)} {fmt(t)}" for s, t in times) + f"; total {fmt(total)}") if times else NA),
    ]
    parts = [kv_table(pairs)]
    if appendix is not None:
        parts.append(
            f"Per-point curve tables, best-of-n at every n, every metric of every policy and final samples: [appendix]({ctx.link(appendix)})."
        )
    return "\n\n".join(parts)

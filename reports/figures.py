"""PNG figures for the report. Each function takes data and an output path and returns the path written.

Figures are built with matplotlib's object API (`Figure` + Agg), never pyplot, so
no global backend or state is touched and rendering works headless.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from reports.data import as_float
from reports.fits import GaoFit

SQRT_KL_LABEL = "√KL (nats^½)"
METHOD_STYLE = {
    "base": {"marker": "*", "color": "black", "label": "base policy"},
    "ppo": {"marker": "o", "color": sns.color_palette("deep")[0], "label": "PPO checkpoints"},
    "best_of_n": {"marker": "s", "color": sns.color_palette("deep")[1], "label": "best-of-n"},
}
# ppo curves worth a panel, in trl's names; others are added only while there is room
# curves worth a panel, per stage, in order; anything else DVCLive logged (epoch, flos, runtime) is left to `dvc plots`
PREFERRED_CURVES = {
    "base_policy": ("loss", "learning_rate", "grad_norm"),
    "reward_model": ("loss", "accuracy", "eval/accuracy", "margin", "eval/loss", "learning_rate"),
    "ppo": ("objective/scores", "objective/kl", "objective/entropy", "policy/clipfrac_avg", "loss/policy_avg", "loss/value_avg",
            "eval/gold_reward", "objective/rlhf_reward", "policy/approxkl_avg"),
}
PPO_CURVES = PREFERRED_CURVES["ppo"]
MAX_PANELS_PER_STAGE = 9


def new_figure(nrows: int, ncols: int, width: float, height: float) -> tuple[Figure, np.ndarray]:
    """A pyplot-free figure in the report's style and its (nrows, ncols) array of axes."""
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def save_figure(fig: Figure, path: Path, dpi: int) -> Path:
    """Write `fig` as PNG to `path` (creating its folder) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    return path


def _style(method: str, index: int) -> dict[str, Any]:
    if method in METHOD_STYLE:
        return METHOD_STYLE[method]
    return {"marker": "D", "color": sns.color_palette("deep")[2 + index % 8], "label": method}


# ---------------------------------------------------------------- frontier
def _frontier_panel(ax: Axes, frontier: pd.DataFrame, fits: Mapping[tuple[str, str], GaoFit | None], metric: str) -> None:
    d_max = float(np.nanmax(frontier["sqrt_kl"].to_numpy(float))) if frontier["sqrt_kl"].notna().any() else 1.0
    grid = np.linspace(0, max(d_max, 1e-3) * 1.05, 200)
    for i, method in enumerate(frontier["method"].dropna().unique()):
        rows = frontier[frontier["method"] == method].sort_values("sqrt_kl")
        style = _style(method, i)
        yerr = None
        if metric == "gold_reward" and {"gold_ci_low", "gold_ci_high"} <= set(rows.columns) and rows["gold_ci_low"].notna().any():
            # asymmetric bootstrap interval; missing bounds draw no bar
            yerr = np.vstack(
                [(rows[metric] - rows["gold_ci_low"]).clip(lower=0), (rows["gold_ci_high"] - rows[metric]).clip(lower=0)]
            ).astype(float)
            yerr = np.nan_to_num(yerr)
        base = method == "base"
        ax.errorbar(
            rows["sqrt_kl"],
            rows[metric],
            yerr=yerr,
            fmt=style["marker"],
            color=style["color"],
            label=style["label"],
            ms=11 if base else 6,
            capsize=3,
            linestyle="none",
            zorder=4 if base else 3,
        )
        fit = fits.get((method, metric))
        if fit is not None:
            # dashed over the fitted points' range, dotted where the curve extrapolates
            own_max = float(rows["sqrt_kl"].max())
            inside, beyond = grid[grid <= own_max], grid[grid >= own_max]
            ax.plot(
                inside,
                fit(inside),
                color=style["color"],
                linestyle="--",
                linewidth=1.3,
                label=f"{style['label']} fit {fit.label()}",
            )
            ax.plot(beyond, fit(beyond), color=style["color"], linestyle=":", linewidth=1.0)
    ax.set_xlabel(SQRT_KL_LABEL)
    ax.set_ylabel("gold reward (gold scorer)" if metric == "gold_reward" else "proxy reward (std. units of base)")
    ax.set_title("Gold reward vs √KL" if metric == "gold_reward" else "Proxy reward vs √KL")
    ax.legend(fontsize=7, loc="best")


def plot_frontier(frontier: pd.DataFrame, fits: Mapping[tuple[str, str], GaoFit | None], path: Path, dpi: int = 110) -> Path:
    """Gold and proxy reward vs √KL: base, PPO and best-of-n points with Gao et al. fitted curves (coefficients in the legend)."""
    metrics = [m for m in ("gold_reward", "proxy_reward") if m in frontier.columns and frontier[m].notna().any()]
    fig, axes = new_figure(1, max(len(metrics), 1), 6.0 * max(len(metrics), 1), 4.5)
    for ax, metric in zip(axes[0], metrics, strict=False):
        _frontier_panel(ax, frontier, fits, metric)
    fig.suptitle("Reward–KL frontier (Gao et al. 2022 forms)")
    return save_figure(fig, path, dpi)


# ---------------------------------------------------------------- reward model
def plot_calibration(calibration: pd.DataFrame, path: Path, dpi: int = 110, ece: float | None = None) -> Path:
    """Reliability diagram: observed frequency vs predicted probability per bin, with the diagonal and per-bin counts."""
    fig, axes = new_figure(2, 1, 5.0, 6.0)
    ax, ax_count = axes[0, 0], axes[1, 0]
    counts = np.nan_to_num(calibration["count"].to_numpy(float)) if "count" in calibration.columns else np.ones(len(calibration))
    sizes = 20 + 180 * counts / max(float(np.nanmax(counts)), 1.0)
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    ax.plot(calibration["predicted"], calibration["observed"], color=METHOD_STYLE["ppo"]["color"], linewidth=1)
    ax.scatter(
        calibration["predicted"],
        calibration["observed"],
        s=sizes,
        color=METHOD_STYLE["ppo"]["color"],
        label="reward model (size ∝ pairs)",
        zorder=3,
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted P(chosen ≻ rejected)")
    ax.set_ylabel("observed frequency chosen ≻ rejected")
    ax.set_title("Reward-model calibration" + (f" (ECE = {ece:.3g})" if ece is not None else ""))
    ax.legend(fontsize=8, loc="upper left")
    if {"bin_low", "bin_high"} <= set(calibration.columns):
        centers = (calibration["bin_low"] + calibration["bin_high"]) / 2
        widths = (calibration["bin_high"] - calibration["bin_low"]) * 0.9
    else:
        centers, widths = calibration["predicted"], 0.05
    ax_count.bar(centers, counts, width=widths, color="gray")
    ax_count.set_xlim(0, 1)
    ax_count.set_xlabel("predicted P(chosen ≻ rejected)")
    ax_count.set_ylabel("pairs per bin (count)")
    return save_figure(fig, path, dpi)


def plot_proxy_vs_gold(
    scores: pd.DataFrame, path: Path, dpi: int = 110, pearson: float | None = None, spearman: float | None = None
) -> Path:
    """Scatter of proxy (reward-model) score against gold score on held-out samples, with a least-squares line."""
    fig, axes = new_figure(1, 1, 5.5, 4.5)
    ax = axes[0, 0]
    df = scores[["gold", "proxy"]].apply(pd.to_numeric, errors="coerce").dropna()
    ax.scatter(
        df["gold"], df["proxy"], s=10, alpha=0.5, color=METHOD_STYLE["ppo"]["color"], label=f"held-out samples (n={len(df)})"
    )
    if len(df) >= 2 and df["gold"].nunique() > 1:
        slope, intercept = np.polyfit(df["gold"], df["proxy"], 1)
        xs = np.linspace(df["gold"].min(), df["gold"].max(), 50)
        ax.plot(xs, slope * xs + intercept, color="black", linestyle="--", label=f"least squares (slope {slope:.3g})")
    stats = [f"{name} {value:.3g}" for name, value in (("Pearson r", pearson), ("Spearman ρ", spearman)) if value is not None]
    ax.set_title("Proxy vs gold reward" + (f" ({', '.join(stats)})" if stats else ""))
    ax.set_xlabel("gold reward (gold scorer)")
    ax.set_ylabel("proxy reward (reward-model score)")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi)


# ---------------------------------------------------------------- training curves
def select_curves(curves: Mapping[str, Mapping[str, pd.DataFrame]]) -> list[tuple[str, str, pd.DataFrame]]:
    """The (stage, name, curve) panels to draw: all base-policy and reward-model curves, PPO's trl names first; capped per stage."""
    panels: list[tuple[str, str, pd.DataFrame]] = []
    for stage, named in curves.items():
        drawable = [n for n in sorted(named) if len(named[n]) >= 2]  # a single point is not a curve
        preferred = [n for n in PREFERRED_CURVES.get(stage, ()) if n in drawable]
        names = preferred or drawable
        panels += [(stage, n, named[n]) for n in names[:MAX_PANELS_PER_STAGE]]
    return panels


def plot_training_curves(curves: Mapping[str, Mapping[str, pd.DataFrame]], path: Path, dpi: int = 110) -> Path | None:
    """A grid of training curves (value vs step), one panel per curve; None when there is no curve."""
    panels = select_curves(curves)
    if not panels:
        return None
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = new_figure(nrows, ncols, 4.2 * ncols, 3.0 * nrows)
    palette = dict(zip(curves, sns.color_palette("deep"), strict=False))
    for ax, (stage, name, df) in zip(axes.flat, panels, strict=False):
        ax.plot(df["step"], df["value"], color=palette[stage], linewidth=1.2)
        ax.set_title(f"{stage}: {name}", fontsize=9)
        ax.set_xlabel("step (optimizer updates)")
        ax.set_ylabel(name.rsplit("/", 1)[-1])
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle("Training curves (DVCLive)")
    return save_figure(fig, path, dpi)


# ---------------------------------------------------------------- diversity
def diversity_metrics(policies: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Diversity metric stems present for any policy (distinct_2, ead, self_bleu...), in first-seen order."""
    stems: list[str] = []
    for metrics in policies.values():
        for name in metrics or {}:
            for suffix in ("_per_input", "_across_input"):
                if name.endswith(suffix) and name[: -len(suffix)] not in stems:
                    stems.append(name[: -len(suffix)])
    return stems


def _bar_panel(ax: Axes, policies: Mapping[str, Mapping[str, Any]], metric: str) -> bool:
    names, means, lows, highs = [], [], [], []
    for policy, metrics in policies.items():
        stats = (metrics or {}).get(metric) or {}
        mean = as_float(stats.get("mean")) if isinstance(stats, dict) else None
        if mean is None:
            continue
        lo, hi = as_float(stats.get("ci_low")), as_float(stats.get("ci_high"))
        names.append(policy)
        means.append(mean)
        lows.append(max(mean - lo, 0.0) if lo is not None else 0.0)
        highs.append(max(hi - mean, 0.0) if hi is not None else 0.0)
    if not names:
        return False
    colors = [_style(n, i)["color"] if n in METHOD_STYLE else sns.color_palette("deep")[2 + i % 8] for i, n in enumerate(names)]
    ax.bar(names, means, yerr=[lows, highs], capsize=3, color=colors)
    ax.set_title(metric, fontsize=9)
    ax.set_ylabel("value (95% CI)")
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    return True


def plot_diversity(policies: Mapping[str, Mapping[str, Any]], path: Path, dpi: int = 110) -> Path | None:
    """Per-input (top row) and across-input (bottom row) diversity per policy, bars with CI error bars; None when no metric."""
    stems = diversity_metrics(policies)
    if not stems:
        return None
    fig, axes = new_figure(2, len(stems), 3.0 * len(stems), 6.0)
    drawn = False
    for row, suffix in enumerate(("_per_input", "_across_input")):
        for col, stem in enumerate(stems):
            if _bar_panel(axes[row, col], policies, stem + suffix):
                drawn = True
            else:
                axes[row, col].set_visible(False)
    if not drawn:
        return None
    fig.suptitle("Diversity per policy: per-input (k samples of one prompt) and across-input (one sample per prompt)")
    return save_figure(fig, path, dpi)

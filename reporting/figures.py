"""PNG figures for the report. Each function takes data and an output path and returns the path written.

Figures are built with matplotlib's object API (`Figure` + Agg), never pyplot, so
no global backend or state is touched and rendering works headless. Every label
shown is a reader's label (see `reporting.tables.policy_label`), made inert for
matplotlib's mathtext with `mpl_text`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from reporting.fits import GaoFit

SQRT_KL_LABEL = "√KL(policy ‖ base policy), KL in nats"
GOLD_RANGE = (-1.0, 1.0)  # the gold scorers' range: a fitted gold curve is never drawn outside it
CURVE_COLORS = ("tab:blue", "tab:green", "tab:red", "tab:purple", "tab:cyan", "tab:olive", "tab:pink", "tab:brown")
BEST_OF_N_COLOR = "tab:orange"
EXTRA_COLORS = ("tab:gray", "tab:brown", "tab:pink", "tab:olive")
METRIC_AXIS = {
    "gold_reward": "gold reward",
    "proxy_reward": "proxy reward (base-policy std. units)",
}


def mpl_text(text: object) -> str:
    """Text shown verbatim by matplotlib: `$` would start mathtext, and a legend label starting with `_` is dropped."""
    s = str(text).replace("$", r"\$").replace("\n", " ")
    return " " + s if s.startswith("_") else s


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


# ---------------------------------------------------------------- frontier
@dataclass(frozen=True)
class Series:
    """Points of one method/curve on the frontier, in the order they are connected."""

    key: str  # curve name in frontier.csv
    label: str  # the reader's label
    color: str
    marker: str
    rows: pd.DataFrame
    connect: bool


def fit_segment(fit: GaoFit | None, metric: str, n: int = 200) -> tuple[np.ndarray, np.ndarray] | None:
    """The part of a fitted curve that may be drawn: None unless the fit is supported; only over the fitted
    range [d_min, d_max]; for gold, only where the curve stays inside GOLD_RANGE (outside it is masked, not clipped)."""
    if fit is None or not fit.supported or not fit.d_max > fit.d_min:
        return None
    d = np.linspace(fit.d_min, fit.d_max, n)
    r = np.asarray(fit(d), dtype=float)
    if metric == "gold_reward":
        r = np.where((r >= GOLD_RANGE[0]) & (r <= GOLD_RANGE[1]), r, np.nan)
    return (d, r) if np.isfinite(r).any() else None


def frontier_series(frontier: pd.DataFrame, labels: Mapping[str, str], curve_order: Sequence[str]) -> list[Series]:
    """What the frontier figure draws: every RL curve, best-of-n, then the final policies that are not a curve's end (base, extras)."""
    out: list[Series] = []
    rl = [c for c in curve_order if ((frontier["curve"] == c) & (frontier["method"] != "policy")).any()]
    rl += sorted(set(frontier.loc[~frontier["method"].isin(["policy", "best_of_n"]), "curve"]) - set(rl))
    for i, curve in enumerate(rl):
        rows = frontier[(frontier["curve"] == curve) & (frontier["method"] != "policy")].sort_values("point")
        out.append(Series(curve, labels.get(curve, curve), CURVE_COLORS[i % len(CURVE_COLORS)], "o", rows, True))
    bon = frontier[frontier["method"] == "best_of_n"].sort_values("point")
    if len(bon):
        ns = bon["point"].dropna()
        span = f" (n={int(ns.min())}…{int(ns.max())})" if len(ns) > 1 else ""
        out.append(Series("best_of_n", labels.get("best_of_n", "best-of-n") + span, BEST_OF_N_COLOR, "s", bon, True))
    finals = frontier[(frontier["method"] == "policy") & ~frontier["curve"].isin(rl)]
    for i, curve in enumerate(dict.fromkeys(finals["curve"])):
        base = curve == "base"
        color = "black" if base else EXTRA_COLORS[i % len(EXTRA_COLORS)]
        out.append(Series(curve, labels.get(curve, curve), color, "*" if base else "D", finals[finals["curve"] == curve], False))
    return out


def _yerr(rows: pd.DataFrame, metric: str) -> np.ndarray | None:
    lo, hi = f"{metric}_ci_low", f"{metric}_ci_high"
    if lo not in rows.columns or hi not in rows.columns or not rows[lo].notna().any():
        return None
    err = np.vstack([(rows[metric] - rows[lo]).clip(lower=0), (rows[hi] - rows[metric]).clip(lower=0)]).astype(float)
    return np.nan_to_num(err)


def plot_frontier(
    frontier: pd.DataFrame,
    fits: Mapping[tuple[str, str], GaoFit | None],
    labels: Mapping[str, str],
    path: Path,
    dpi: int = 110,
    *,
    curve_order: Sequence[str] = (),
    gold_name: str = "gold",
) -> tuple[Path, list[tuple[str, str]]]:
    """Gold and proxy reward vs √KL, one colour per method/curve, 95% CI error bars, Gao fits where supported.

    Returns the path and the (curve, metric) fits that were drawn.
    """
    series = frontier_series(frontier, labels, curve_order)
    fig, axes = new_figure(1, 2, 11.0, 4.6)
    drawn: list[tuple[str, str]] = []
    for ax, metric in zip(axes[0], ("gold_reward", "proxy_reward"), strict=True):
        for s in series:
            rows = s.rows.dropna(subset=["sqrt_kl", metric])
            if not len(rows):
                continue
            ax.errorbar(
                rows["sqrt_kl"],
                rows[metric],
                yerr=_yerr(rows, metric),
                fmt=s.marker,
                color=s.color,
                ms=12 if s.marker == "*" else 5,
                capsize=2,
                elinewidth=0.8,
                linestyle="-" if s.connect else "none",
                linewidth=0.8,
                alpha=0.9,
                label=mpl_text(s.label),
                zorder=4 if s.marker == "*" else 3,
            )
            segment = fit_segment(fits.get((s.key, metric)), metric)
            if segment is not None:
                ax.plot(*segment, color=s.color, linestyle="--", linewidth=1.6, zorder=2)
                drawn.append((s.key, metric))
        ax.set_xlabel(SQRT_KL_LABEL)
        ax.set_ylabel(METRIC_AXIS[metric] if metric != "gold_reward" else f"gold reward ({mpl_text(gold_name)})")
        ax.set_title(("Gold" if metric == "gold_reward" else "Proxy") + " reward vs √KL (mean, 95% CI)")
    handles, names = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, names, loc="outside lower center", ncol=min(len(handles), 5), fontsize=8, frameon=False)
    fig.suptitle("Reward–KL frontier: dashed lines are Gao et al. (2022) fits, drawn only where supported")
    return save_figure(fig, path, dpi), drawn


# ---------------------------------------------------------------- reward model
def plot_reward_model(
    calibration: pd.DataFrame | None,
    scores: pd.DataFrame | None,
    path: Path,
    dpi: int = 110,
    *,
    ece: float | None = None,
    pearson: float | None = None,
    gold_name: str = "gold",
) -> Path | None:
    """Reliability diagram (left) and proxy vs gold on held-out samples (right); None when neither input exists."""
    panels = [p for p in ("calibration", "scatter") if (calibration if p == "calibration" else scores) is not None]
    if not panels:
        return None
    fig, axes = new_figure(1, len(panels), 5.0 * len(panels), 4.2)
    for ax, panel in zip(axes[0], panels, strict=True):
        if panel == "calibration":
            counts = (
                np.nan_to_num(calibration["count"].to_numpy(float))
                if "count" in calibration.columns
                else np.ones(len(calibration))
            )
            sizes = 15 + 150 * counts / max(float(np.nanmax(counts)) if len(counts) else 1.0, 1.0)
            ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
            ax.plot(calibration["predicted"], calibration["observed"], color="tab:blue", linewidth=1)
            ax.scatter(
                calibration["predicted"],
                calibration["observed"],
                s=sizes,
                color="tab:blue",
                label="reward model (size ∝ pairs in bin)",
                zorder=3,
            )
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_xlabel("predicted P(chosen preferred)")
            ax.set_ylabel("observed share chosen preferred")
            ax.set_title("Calibration on held-out pairs" + (f" (ECE {ece:.3g})" if ece is not None else ""))
        else:
            df = scores[["gold", "proxy"]].apply(pd.to_numeric, errors="coerce").dropna()
            ax.scatter(df["gold"], df["proxy"], s=9, alpha=0.5, color="tab:blue", label=f"held-out samples (n={len(df)})")
            ax.set_xlabel(f"gold reward ({mpl_text(gold_name)})")
            ax.set_ylabel("proxy reward (raw reward-model score)")
            ax.set_title("Proxy vs gold" + (f" (Pearson r {pearson:.3g})" if pearson is not None else ""))
        ax.legend(fontsize=8, loc="upper left")
    return save_figure(fig, path, dpi)


# ---------------------------------------------------------------- training curves
@dataclass(frozen=True)
class Panel:
    """One training-curve panel: title, axis labels, and (legend label, frame with step and value) lines."""

    title: str
    xlabel: str
    ylabel: str
    lines: list[tuple[str, pd.DataFrame]]


def plot_panels(panels: Sequence[Panel], path: Path, dpi: int = 110, title: str = "Training curves") -> Path | None:
    """A grid of line panels, two per row, one colour per line (PPO curves keep the frontier's colours); None without a panel."""
    panels = [p for p in panels if p.lines]
    if not panels:
        return None
    ncols = min(2, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = new_figure(nrows, ncols, 5.2 * ncols, 3.3 * nrows)
    for ax, panel in zip(axes.flat, panels, strict=False):
        for i, (label, df) in enumerate(panel.lines):
            ax.plot(
                df["step"],
                df["value"],
                color=CURVE_COLORS[i % len(CURVE_COLORS)],
                linewidth=1.2,
                marker="." if len(df) < 30 else None,
                label=mpl_text(label),
            )
        ax.set_title(mpl_text(panel.title), fontsize=10)
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel)
        if len(panel.lines) > 1:
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    return save_figure(fig, path, dpi)

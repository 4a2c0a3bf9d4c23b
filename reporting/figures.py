"""PNG figures for the report. Each function takes data and an output path and returns the path written.

Figures are built with matplotlib's object API (`Figure` + Agg), never pyplot, so
no global backend or state is touched and rendering works headless. Every label
shown is a reader's label (see `reporting.tables.policy_label`), made inert for
matplotlib's mathtext with `mpl_text`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from reporting.fits import GaoFit

SQRT_KL_LABEL = "√KL(policy ‖ base policy), KL in nats"
KL_AXIS_LABEL = "KL(policy ‖ base policy) in nats, on a √ scale"
GOLD_RANGE = (-1.0, 1.0)  # the gold scorers' range: a fitted gold curve is never drawn outside it
CURVE_COLORS = ("tab:blue", "tab:green", "tab:red", "tab:purple", "tab:cyan", "tab:olive", "tab:pink", "tab:brown")
BEST_OF_N_COLOR = "tab:orange"
BASE_COLOR = "black"
EXTRA_COLORS = ("tab:gray", "tab:brown", "tab:pink", "tab:olive")
# one hue family per trained method, so a reader groups a method's curves at a glance; shades tell its curves apart
METHOD_PALETTES = {"ppo": "Blues", "dpo": "Greens", "rloo": "Purples", "grpo": "Reds"}
METHOD_MARKERS = {"ppo": "o", "dpo": "D", "rloo": "^", "grpo": "v", "best_of_n": "s", "base": "*"}
EXTRA_MARKER = "X"  # a final policy that is neither a curve's end nor the base policy
METRIC_AXIS = {
    "gold_reward": "gold reward",
    "proxy_reward": "proxy reward (base-policy std. units)",
}
STD_UNITS_AXIS = "reward − base-policy mean, in base-policy std. units"


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


# ---------------------------------------------------------------- colours, markers, the KL axis
def method_shades(palette: str, n: int) -> list[str]:
    """`n` shades of a sequential seaborn palette, darkest first. The palest shades are skipped (invisible on white)
    and 2-4 shades are spread over the usable range so a method's curves stay apart."""
    if n <= 4:
        shades = sns.color_palette(palette, 12)[::-1]
        picks = [3] if n == 1 else np.linspace(1, min(7, 3 + n), n).round().astype(int)
        return [to_hex(shades[i]) for i in picks]
    return [to_hex(c) for c in sns.color_palette(palette, n + 3)[::-1][:n]]


def curve_colors(curves: Sequence[tuple[str, str]]) -> dict[str, str]:
    """One colour per (curve name, method), in order: each trained method its own hue family (PPO blues, DPO greens,
    RLOO purples, GRPO reds, darkest first), best-of-n orange, the base policy black, anything else a grey/brown; as
    hex strings. Every figure colours a curve through this, so the same curve has the same colour everywhere."""
    pairs = list(dict.fromkeys((str(n), str(m)) for n, m in curves))
    families = {m: [n for n, mm in pairs if mm == m] for m in METHOD_PALETTES}
    shades = {m: dict(zip(ns, method_shades(METHOD_PALETTES[m], len(ns)), strict=True)) for m, ns in families.items()}
    out: dict[str, str] = {}
    extras = 0
    for name, method in pairs:
        if name in out:
            continue
        if name == "base" or method == "base":
            out[name] = BASE_COLOR
        elif name == "best_of_n" or method == "best_of_n":
            out[name] = BEST_OF_N_COLOR
        elif method in shades:
            out[name] = shades[method][name]
        else:
            out[name], extras = EXTRA_COLORS[extras % len(EXTRA_COLORS)], extras + 1
    return {name: to_hex(color) for name, color in out.items()}


def curve_marker(method: str, name: str = "") -> str:
    """The marker of a method (PPO circle, DPO diamond, RLOO up, GRPO down, best-of-n square, base star)."""
    if name == "base":
        return METHOD_MARKERS["base"]
    return METHOD_MARKERS.get(method, EXTRA_MARKER)


def kl_ticks(max_kl: float, max_ticks: int = 11) -> list[float]:
    """KL values in nats to tick on a √KL axis: 0, 1, 2, 4, 9, 16, … (squares sit evenly in √KL) up to `max_kl`,
    thinned to about `max_ticks`; below 2 nats also 0.1, 0.25 and 0.5, so a short axis still has ticks."""
    top = math.isqrt(int(max(max_kl, 0.0)))
    step = max(1, math.ceil(top / (max_ticks - 1)))
    ks = {float(r * r) for r in range(0, top + 1, step)}
    if step == 1:
        ks.add(2.0)
    if max_kl < 2:
        ks.update((0.1, 0.25, 0.5))
    return sorted(k for k in ks if k <= max_kl)


def set_kl_axis(ax: Axes) -> None:
    """Keep x in √KL (where Gao et al.'s forms are simple) but label the ticks with KL itself, in nats."""
    lo, hi = ax.get_xlim()
    ks = kl_ticks(max(hi, 0.0) ** 2)
    ax.set_xticks([math.sqrt(k) for k in ks], [f"{k:g}" for k in ks])
    ax.set_xlim(lo, hi)
    ax.set_xlabel(KL_AXIS_LABEL)


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


def frontier_series(
    frontier: pd.DataFrame,
    labels: Mapping[str, str],
    curve_order: Sequence[str],
    colors: Mapping[str, str] | None = None,
) -> list[Series]:
    """What the frontier figure draws: every RL curve, best-of-n, then the final policies that are not a curve's end (base, extras).

    Colours come from `colors` (the report's, so a curve matches the training figure) and otherwise from `curve_colors`."""
    curve_rows = frontier[frontier["method"] != "policy"]
    rl = [c for c in curve_order if ((curve_rows["curve"] == c) & (curve_rows["method"] != "best_of_n")).any()]
    rl += sorted(set(curve_rows.loc[curve_rows["method"] != "best_of_n", "curve"]) - set(rl))
    methods = {c: str(curve_rows.loc[curve_rows["curve"] == c, "method"].iloc[0]) for c in rl}
    finals = frontier[(frontier["method"] == "policy") & ~frontier["curve"].isin(rl)]
    final_names = list(dict.fromkeys(finals["curve"]))
    pairs = [(c, methods[c]) for c in rl] + [("best_of_n", "best_of_n")] + [(c, "policy") for c in final_names]
    palette = curve_colors(pairs) | dict(colors or {})
    out: list[Series] = []
    for curve in rl:
        rows = curve_rows[curve_rows["curve"] == curve].sort_values("point")
        out.append(Series(curve, labels.get(curve, curve), palette[curve], curve_marker(methods[curve]), rows, True))
    bon = curve_rows[curve_rows["method"] == "best_of_n"].sort_values("point")
    if len(bon):
        ns = bon["point"].dropna()
        span = f" (n={int(ns.min())}…{int(ns.max())})" if len(ns) > 1 else ""
        label = labels.get("best_of_n", "best-of-n") + span
        out.append(Series("best_of_n", label, palette["best_of_n"], curve_marker("best_of_n"), bon, True))
    for curve in final_names:
        marker = curve_marker("policy", curve)
        out.append(Series(curve, labels.get(curve, curve), palette[curve], marker, finals[finals["curve"] == curve], False))
    return out


def _yerr(rows: pd.DataFrame, metric: str) -> np.ndarray | None:
    lo, hi = f"{metric}_ci_low", f"{metric}_ci_high"
    if lo not in rows.columns or hi not in rows.columns or not rows[lo].notna().any():
        return None
    err = np.vstack([(rows[metric] - rows[lo]).clip(lower=0), (rows[hi] - rows[metric]).clip(lower=0)]).astype(float)
    return np.nan_to_num(err)


def _marker_size(marker: str) -> float:
    return 12 if marker == "*" else 5


def _draw_points(ax: Axes, s: Series, metric: str, *, dashed: bool = False) -> bool:
    """One series' points of `metric` with 95% CI bars, joined in order; dashed with open markers for the proxy."""
    if metric not in s.rows.columns:
        return False
    rows = s.rows.dropna(subset=["sqrt_kl", metric])
    if not len(rows):
        return False
    ax.errorbar(
        rows["sqrt_kl"],
        rows[metric],
        yerr=_yerr(rows, metric),
        fmt=s.marker,
        color=s.color,
        mfc="white" if dashed else s.color,
        ms=_marker_size(s.marker),
        capsize=2,
        elinewidth=0.7,
        linestyle=("--" if dashed else "-") if s.connect else "none",
        linewidth=1.0,
        alpha=0.9,
        zorder=4 if s.marker == "*" else 3,
    )
    return True


def _draw_fit(ax: Axes, s: Series, fit: GaoFit | None, metric: str) -> bool:
    segment = fit_segment(fit, metric)
    if segment is None:
        return False
    ax.plot(*segment, color=s.color, linestyle=":", linewidth=1.8, zorder=2)
    return True


def frontier_legend(fig: Figure, series: Sequence[Series]) -> None:
    """One entry per curve, then what the line styles mean; outside the axes on the right, so it never covers data."""
    handles = [
        Line2D(
            [],
            [],
            color=s.color,
            marker=s.marker,
            ms=_marker_size(s.marker),
            linestyle="-" if s.connect else "none",
            label=mpl_text(s.label),
        )
        for s in series
    ]
    handles += [
        Line2D([], [], color="dimgray", marker="o", linestyle="-", label="gold (solid, filled markers)"),
        Line2D([], [], color="dimgray", marker="o", mfc="white", linestyle="--", label="proxy (dashed, open markers)"),
        Line2D([], [], color="dimgray", linestyle=":", linewidth=1.8, label="Gao et al. (2022) fit, where supported"),
    ]
    fig.legend(handles=handles, loc="outside right center", ncol=1, fontsize=8, frameon=False)


def plot_frontier(
    frontier: pd.DataFrame,
    fits: Mapping[tuple[str, str], GaoFit | None],
    labels: Mapping[str, str],
    path: Path,
    dpi: int = 110,
    *,
    curve_order: Sequence[str] = (),
    gold_name: str = "gold",
    colors: Mapping[str, str] | None = None,
) -> tuple[Path, list[tuple[str, str]]]:
    """Reward vs KL on a √KL axis (Gao et al.), one colour per curve, 95% CI error bars, Gao fits where supported.

    Left: gold in its own units, with the gold fits. Right: gold and proxy on one axis, both in base-policy standard
    units, so the proxy pulling away from the gold (over-optimisation) is a gap between two lines of the same colour.
    Returns the path and the (curve, metric) fits that were drawn.
    """
    series = frontier_series(frontier, labels, curve_order, colors)
    fig, axes = new_figure(1, 2, 12.5, 4.8)
    gold_ax, common_ax = axes[0]
    drawn: list[tuple[str, str]] = []
    for s in series:
        _draw_points(gold_ax, s, "gold_reward")
        _draw_points(common_ax, s, "gold_reward_norm")
        _draw_points(common_ax, s, "proxy_reward", dashed=True)
        for ax, metric in ((gold_ax, "gold_reward"), (common_ax, "proxy_reward")):
            if _draw_fit(ax, s, fits.get((s.key, metric)), metric):
                drawn.append((s.key, metric))
    gold_ax.set_ylabel(f"gold reward ({mpl_text(gold_name)})")
    gold_ax.set_title("Gold reward in its own units\n(mean, 95% CI)", fontsize=10)
    common_ax.set_ylabel(STD_UNITS_AXIS)
    common_ax.set_title("Gold (solid) and proxy (dashed) on one scale,\nbase-policy std. units: the proxy–gold gap", fontsize=10)
    for ax in (gold_ax, common_ax):
        set_kl_axis(ax)
    frontier_legend(fig, series)
    fig.suptitle("Reward–KL frontier: reward at each evaluation point (mean, 95% CI) against the KL it cost")
    return save_figure(fig, path, dpi), drawn


# ---------------------------------------------------------------- reward model
def wilson_interval(share: np.ndarray, count: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """95% Wilson score interval of an observed share out of `count` pairs (NaN where count is 0): unlike the normal
    approximation it stays inside [0, 1] and is honest for the small bins at the ends of a reliability diagram."""
    share, count = np.asarray(share, float), np.asarray(count, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1 + z**2 / count
        centre = (share + z**2 / (2 * count)) / denom
        half = z * np.sqrt(share * (1 - share) / count + z**2 / (4 * count**2)) / denom
    bad = ~(count > 0)
    return np.where(bad, np.nan, centre - half), np.where(bad, np.nan, centre + half)


def standardised_proxy(raw: pd.Series, normalization: Mapping[str, object] | None) -> tuple[pd.Series, str]:
    """The proxy in base-policy standard units, (raw − mean) / std with the reward model's own normalization (what the
    policies were trained on and the rest of the report shows), and its axis label; raw scores, labelled so, without it."""
    norm = normalization or {}
    try:
        mean, std = float(norm["mean"]), float(norm["std"])
    except (KeyError, TypeError, ValueError):
        mean, std = math.nan, math.nan
    if math.isfinite(mean) and math.isfinite(std) and std > 0:
        return (raw - mean) / std, "proxy reward (base-policy std. units)"
    return raw, "proxy reward (raw reward-model score: no base-policy normalization recorded)"


def _calibration_panel(ax: Axes, calibration: pd.DataFrame, ece: float | None) -> None:
    has_count = "count" in calibration.columns
    counts = np.nan_to_num(calibration["count"].to_numpy(float)) if has_count else np.ones(len(calibration))
    sizes = 15 + 150 * counts / max(float(np.nanmax(counts)) if len(counts) else 1.0, 1.0)
    predicted, observed = calibration["predicted"].to_numpy(float), calibration["observed"].to_numpy(float)
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    ax.plot(predicted, observed, color="tab:blue", linewidth=1)
    if has_count:
        lo, hi = wilson_interval(observed, counts)
        err = np.nan_to_num(np.vstack([(observed - lo).clip(min=0), (hi - observed).clip(min=0)]))
        ax.errorbar(
            predicted,
            observed,
            yerr=err,
            fmt="none",
            ecolor="tab:blue",
            elinewidth=1,
            capsize=3,
            alpha=0.8,
            label="95% Wilson interval (pairs in bin)",
        )
    ax.scatter(predicted, observed, s=sizes, color="tab:blue", label="reward model (size ∝ pairs in bin)", zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted P(chosen preferred)")
    ax.set_ylabel("observed share chosen preferred")
    ax.set_title("Calibration on held-out pairs" + (f" (ECE {ece:.3g})" if ece is not None else ""))


def _scatter_panel(
    ax: Axes, scores: pd.DataFrame, normalization: Mapping[str, object] | None, pearson: float | None, gold_name: str
) -> None:
    df = scores[["gold", "proxy"]].apply(pd.to_numeric, errors="coerce").dropna()
    proxy, ylabel = standardised_proxy(df["proxy"], normalization)
    ax.scatter(df["gold"], proxy, s=9, alpha=0.5, color="tab:blue", label=f"held-out samples (n={len(df)})")
    if len(df) >= 2 and df["gold"].nunique() > 1:
        slope, intercept = np.polyfit(df["gold"].to_numpy(float), proxy.to_numpy(float), 1)
        x = np.array([df["gold"].min(), df["gold"].max()])
        unit = "std. units" if "std. units" in ylabel else "raw score"
        ax.plot(
            x,
            intercept + slope * x,
            color="tab:red",
            linewidth=1.5,
            label=f"least-squares line, slope {slope:.3g} ({unit} per gold unit)",
        )
    ax.set_xlabel(f"gold reward ({mpl_text(gold_name)})")
    ax.set_ylabel(ylabel)
    ax.set_title("Proxy vs gold" + (f" (Pearson r {pearson:.3g})" if pearson is not None else ""))


def plot_reward_model(
    calibration: pd.DataFrame | None,
    scores: pd.DataFrame | None,
    path: Path,
    dpi: int = 110,
    *,
    ece: float | None = None,
    pearson: float | None = None,
    gold_name: str = "gold",
    normalization: Mapping[str, object] | None = None,
) -> Path | None:
    """Reliability diagram with Wilson intervals (left) and proxy vs gold on held-out samples with its least-squares
    line (right), the proxy in base-policy std. units when `normalization` (mean, std) is given; None without input."""
    panels = [p for p in ("calibration", "scatter") if (calibration if p == "calibration" else scores) is not None]
    if not panels:
        return None
    fig, axes = new_figure(1, len(panels), 5.4 * len(panels), 4.4)
    for ax, panel in zip(axes[0], panels, strict=True):
        if panel == "calibration":
            _calibration_panel(ax, calibration, ece)
        else:
            _scatter_panel(ax, scores, normalization, pearson, gold_name)
        ax.legend(fontsize=8, loc="upper left")
    return save_figure(fig, path, dpi)


# ---------------------------------------------------------------- training curves
@dataclass(frozen=True)
class Panel:
    """One training-curve panel: title, axis labels, and (legend label, frame with step and value) lines.

    A frame may carry `low` and `high` (a 95% CI, drawn as a band). `colors`/`markers` map a line's label to its
    curve's colour and method marker; lines of a panel with `in_legend` go into the figure's shared legend."""

    title: str
    xlabel: str
    ylabel: str
    lines: list[tuple[str, pd.DataFrame]]
    colors: Mapping[str, str] = field(default_factory=dict)
    markers: Mapping[str, str] = field(default_factory=dict)
    in_legend: bool = False


def _draw_line(ax: Axes, label: str, df: pd.DataFrame, color: str, marker: str | None) -> None:
    ax.plot(df["step"], df["value"], color=color, linewidth=1.3, marker=marker, ms=4, label=mpl_text(label))
    if {"low", "high"} <= set(df.columns) and df["low"].notna().any():
        ax.fill_between(df["step"], df["low"], df["high"], color=color, alpha=0.15, linewidth=0)


def plot_panels(panels: Sequence[Panel], path: Path, dpi: int = 110, title: str = "Training curves") -> Path | None:
    """A grid of line panels (three per row from three panels on), each curve in its own colour (`Panel.colors`, the
    frontier's), and one legend outside the axes on the right for the curves; None without a panel."""
    panels = [p for p in panels if p.lines]
    if not panels:
        return None
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = new_figure(nrows, ncols, 4.6 * ncols + 2.0, 3.4 * nrows)
    legend: dict[str, object] = {}
    for ax, panel in zip(axes.flat, panels, strict=False):
        for i, (label, df) in enumerate(panel.lines):
            color = panel.colors.get(label, CURVE_COLORS[i % len(CURVE_COLORS)])
            marker = panel.markers.get(label, "." if len(df) < 30 else None)
            _draw_line(ax, label, df, color, marker)
        ax.set_title(mpl_text(panel.title), fontsize=10)
        ax.set_xlabel(panel.xlabel, fontsize=9)
        ax.set_ylabel(panel.ylabel, fontsize=9)
        if panel.in_legend:
            handles, names = ax.get_legend_handles_labels()
            legend.update((n, h) for n, h in zip(names, handles, strict=True) if n not in legend)
        elif len(panel.lines) > 1:
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    if legend:
        fig.legend(
            list(legend.values()),
            list(legend),
            loc="outside right upper",
            ncol=1,
            fontsize=8,
            frameon=False,
            title="curve (band: 95% CI)",
            title_fontsize=8,
        )
    fig.suptitle(title)
    return save_figure(fig, path, dpi)

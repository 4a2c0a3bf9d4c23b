"""Aggregate finished DVC experiments into a cross-experiment table and frontier figure.

    python -m reporting.compare [--out-dir reports/compare] [--input exp_show.json]

Without --input it runs `dvc exp show --json` in the current repository. Every policy in each run's
DVC metrics file (`results/summary.json`, headline means keyed by role: `<method>.curve<i>` with its knob as a value,
see reporting/summary.py; runs from before that layout: `policies.<name>`) is compared: the base policy, every RL
curve of every method (labelled from its method and knob) and best-of-n at a few n (results/metrics.json-style input
only: the DVC metrics file keeps best-of-n's matched-KL numbers, not its n). Runs are grouped by every parameter except
seeds and output-neutral ones (`group_params`); each group reports the mean and a 95% Student-t interval across its
seeds, clipped to the metric's range. The committed baseline joins the group of experiments that differ from it only in
seed. Writes `compare.md` and
`compare_frontier.png` into --out-dir.
"""

from __future__ import annotations

import pipeline  # noqa: F401  (run as `python -m`: pins numpy's kernels before numpy loads; pipeline/__init__.py)

# isort: split
import json
import math
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from pipeline.config import Params
from pipeline.errors import OneLineParser, positive_int
from pipeline.profiles import merge
from reporting.data import as_float, get
from reporting.escape import code, escape_cell, escape_inline
from reporting.exps import is_output_neutral
from reporting.figures import CURVE_COLORS, SQRT_KL_LABEL, mpl_text, new_figure, save_figure
from reporting.summary import REFERENCE_CONSTANTS, as_policies
from reporting.tables import METHOD_LABELS, NA, fmt, md_table, policy_label

INF = math.inf
UNIT = (0.0, 1.0)
NON_NEGATIVE = (0.0, INF)
METRICS_FILE = "results/summary.json"  # the DVC metrics file: each run's headline means
GOLD_BOUNDS = (-1.0, 1.0)  # the gold scorers' range (reporting.figures.GOLD_RANGE)


@dataclass(frozen=True)
class Metric:
    """A compared metric: its key in metrics.json, column header and the range its values (and CIs) live in."""

    key: str
    header: str
    bounds: tuple[float, float] = (-INF, INF)


# per-policy metrics, read as `policies.<name>.<key>.mean` (best-of-n: `best_of_n.<n>.<key>`, a dict or a number).
# The proxy is the normalised one (base-policy standard units): raw scores of different reward models are not comparable.
POLICY_METRICS: tuple[Metric, ...] = (
    Metric("gold_reward", "gold reward", GOLD_BOUNDS),
    Metric("proxy_reward_norm", "proxy reward (norm.)"),
    Metric("kl", "KL (nats)", NON_NEGATIVE),
    Metric("win_rate_vs_base", "win rate vs base", UNIT),
    Metric("distinct_2_across_input", "distinct-2", UNIT),
)
SQRT_KL = Metric("sqrt_kl", "√KL", NON_NEGATIVE)
# per-run metrics (dotted paths)
RUN_METRICS: tuple[Metric, ...] = (
    Metric("reward_model.accuracy_gold", "RM accuracy (gold order)", UNIT),
    Metric("reward_model.accuracy", "RM accuracy (labels)", UNIT),
)
BEST_OF_N_SHOWN = (1, 4, 16, 64)  # the n compared when present; otherwise every n the run has
BEST_OF_N = "best_of_n"
# executor states of experiments that have not finished successfully
UNFINISHED = {"queued", "running", "failed"}
INTERVAL_NOTE = (
    "Cells: mean [95% Student-t interval across seeds, clipped to the metric's range: gold reward in [-1, 1]; "
    "win rate, distinct-2 and RM accuracy in [0, 1]; KL and √KL ≥ 0]. A group with one seed shows its mean and "
    "n=1, no interval. Proxy reward is the normalised proxy (base-policy standard units), never the raw score."
)


@dataclass(frozen=True)
class PolicyInfo:
    """Identity of one compared policy: its key, reader's label, the method/curve series it belongs to, sort order."""

    key: str
    label: str
    series: str
    series_label: str
    knob: float | None
    order: tuple[Any, ...]


@dataclass(frozen=True)
class Run:
    """One finished experiment (or the baseline): identity, flattened params, per-policy and per-run metric values."""

    name: str
    rev: str
    params: Mapping[str, Any]
    policies: Mapping[str, Mapping[str, float | None]]
    info: Mapping[str, PolicyInfo]
    scalars: Mapping[str, float | None]
    baseline: str | None = None  # the baseline's label; None for an experiment

    @property
    def seed(self) -> Any:
        # the top-level seed when there is one, else the first section seed
        return self.params.get("seed", next((v for k, v in self.params.items() if is_seed(k)), None))


@dataclass
class Group:
    """Runs that share every parameter but seeds and output-neutral ones (see `group_params`)."""

    key: str
    params: Mapping[str, Any]
    runs: list[Run] = field(default_factory=list)
    baseline: str | None = None
    gid: str = ""

    def policy_infos(self) -> list[PolicyInfo]:
        """Every policy any of its runs has, in display order."""
        infos: dict[str, PolicyInfo] = {}
        for run in self.runs:
            for key, info in run.info.items():
                infos.setdefault(key, info)
        return sorted(infos.values(), key=lambda p: p.order)

    def values(self, policy: str, metric: str) -> list[float | None]:
        return [r.policies.get(policy, {}).get(metric) for r in self.runs]


@dataclass(frozen=True)
class Interval:
    """Mean and 95% CI across seeds; the bounds are None with fewer than 2 values."""

    mean: float | None
    low: float | None
    high: float | None
    n: int


# ---------------------------------------------------------------- reading dvc exp show
def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys: {"ppo": {"lr": 1}} -> {"ppo.lr": 1}; lists stay values."""
    if not isinstance(obj, dict):
        return {prefix: obj} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def effective_params(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A run's flattened params with the keys its params.yaml leaves out filled from pipeline/config.py's defaults, so
    `-S +ppo.gamma=1.0` (the default) and no override group together. The defaults are this checkout's: compare
    experiments of one code revision."""
    return flatten(merge(Params().model_dump(mode="json"), dict(raw)))


def is_seed(key: str) -> bool:
    """A seed parameter: `seed` or any `<section>.seed`."""
    return key.rsplit(".", 1)[-1] == "seed"


def _file_data(files: Any, wanted: str) -> dict[str, Any] | None:
    """The parsed `data` of the file result named `wanted` (path separators normalised), else None."""
    if not isinstance(files, dict):
        return None
    for path, result in files.items():
        if str(path).replace("\\", "/") == wanted and isinstance(result, dict) and isinstance(result.get("data"), dict):
            return result["data"]
    return None


def _value(stat: Any) -> float | None:
    """A metric value: the `mean` of a {mean, ci_low, ci_high} dict, or a bare number."""
    return as_float(stat.get("mean")) if isinstance(stat, dict) else as_float(stat)


def _sqrt_kl(values: Mapping[str, float | None], given: Any = None) -> float | None:
    direct = _value(given)
    if direct is not None:
        return max(direct, 0.0)
    kl = values.get("kl")
    return math.sqrt(max(kl, 0.0)) if kl is not None else None


def _method_rank(method: str) -> int:
    methods = list(METHOD_LABELS)
    return methods.index(method) if method in methods else len(methods)


def extract_policies(metrics: Mapping[str, Any]) -> tuple[dict[str, dict[str, float | None]], dict[str, PolicyInfo]]:
    """Every policy of a metrics.json (discovered, not listed): `policies.<name>` and best-of-n at a few n."""
    values: dict[str, dict[str, float | None]] = {}
    info: dict[str, PolicyInfo] = {}
    policies = metrics.get("policies") if isinstance(metrics.get("policies"), dict) else {}
    # the DVC metrics file leaves out the base policy's constants; restore those of metrics the run has
    measured = {k for stats_ in policies.values() if isinstance(stats_, dict) for k in stats_}
    base_constants = {k: v for k, v in REFERENCE_CONSTANTS.items() if k in measured}
    for name, stats_ in policies.items():
        if not isinstance(stats_, dict):
            continue
        name = str(name)
        if name == "base":
            stats_ = {**base_constants, **stats_}
        row = {m.key: _value(stats_.get(m.key)) for m in POLICY_METRICS}
        row[SQRT_KL.key] = _sqrt_kl(row, stats_.get(SQRT_KL.key))
        values[name] = row
        method = get(metrics, "curves", name, "method")
        knob = as_float(get(metrics, "curves", name, "knob"))
        if name == "base":
            info[name] = PolicyInfo(name, policy_label(name, metrics), "base", "base policy", None, (0,))
        elif method is not None:
            method = str(method)
            rank = (1, _method_rank(method), method, knob if knob is not None else INF, name)
            info[name] = PolicyInfo(name, policy_label(name, metrics), method, METHOD_LABELS.get(method, method), knob, rank)
        else:
            info[name] = PolicyInfo(name, policy_label(name, metrics), name, name, None, (2, name))
    bon = metrics.get(BEST_OF_N)
    if isinstance(bon, dict):
        ns = sorted(int(n) for n in bon if str(n).isdigit() and isinstance(bon[n], dict))
        shown = [n for n in ns if n in BEST_OF_N_SHOWN] or ns
        for n in shown:
            stats_ = bon[str(n)]
            row = {m.key: _value(stats_.get(m.key)) for m in POLICY_METRICS}
            row[SQRT_KL.key] = _sqrt_kl(row, stats_.get(SQRT_KL.key))
            key = f"{BEST_OF_N}@{n}"
            values[key] = row
            info[key] = PolicyInfo(key, f"best-of-{n}", BEST_OF_N, "best-of-n", float(n), (3, n))
    return values, info


def with_curve_identity(metrics: Mapping[str, Any]) -> Mapping[str, Any]:
    """Metrics whose `curves` section names each RL curve's method and knob: results/metrics.json has it; a DVC
    metrics file from before the role-keyed layout (per-policy keys) does not, so it is read from the key ('ppo_kl0p03')."""
    if isinstance(metrics.get("curves"), dict) or not isinstance(metrics.get("policies"), dict):
        return metrics
    curves = {}
    for name in metrics["policies"]:
        method, sep, knob = str(name).partition("_kl")
        if sep and method in METHOD_LABELS:
            try:
                curves[name] = {"method": method, "knob": float(knob.replace("p", ".").replace("m", "-"))}
            except ValueError:
                continue  # an extra policy that only looks like a curve
    return {**metrics, "curves": curves}


def policy_view(metrics: Mapping[str, Any]) -> Mapping[str, Any]:
    """Per-policy metrics from a run's metrics file: the role-keyed DVC metrics file (reporting.summary) turned back
    into policies, or an older one (per-policy keys) and results/metrics.json as they are."""
    return with_curve_identity(metrics) if "policies" in metrics else as_policies(metrics)


def _run(state: Mapping[str, Any], metrics_file: str, params_file: str, baseline: str | None = None) -> Run | None:
    data = state.get("data")
    rev = str(state.get("rev") or "")
    if state.get("error") or not isinstance(data, dict):
        return None
    metrics = _file_data(data.get("metrics"), metrics_file)
    if metrics is None:
        return None
    metrics = policy_view(metrics)
    params = effective_params(_file_data(data.get("params"), params_file) or {})
    policies, info = extract_policies(metrics)
    scalars = {m.key: _value(get(metrics, *m.key.split("."))) for m in RUN_METRICS}
    name = str(state.get("name") or rev[:7])
    return Run(name=name, rev=rev, params=params, policies=policies, info=info, scalars=scalars, baseline=baseline)


def _iter_experiments(records: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """States of finished experiments (never queued, running or failed ones)."""
    for record in records:
        for exp_range in record.get("experiments") or []:
            state = get(exp_range, "executor", "state")
            if state in UNFINISHED:
                continue
            for rev_state in exp_range.get("revs") or []:
                yield {"name": exp_range.get("name"), **rev_state}


def _baseline_label(record: Mapping[str, Any], head: bool) -> str:
    rev = str(record.get("rev") or "")
    if rev == "workspace":
        return "baseline (workspace)"
    parts = (["HEAD"] if head else []) + ([str(record["name"])] if record.get("name") else []) + [rev[:7]]
    return f"baseline ({', '.join(parts)})"


def collect_runs(
    records: Sequence[Mapping[str, Any]],
    metrics_file: str = METRICS_FILE,
    params_file: str = "params.yaml",
    include_baselines: bool = False,
) -> list[Run]:
    """The baseline run(s) then the finished experiments of a `dvc exp show --json` list.

    The baseline is the first commit record (HEAD); with `include_baselines`, every commit record (`exp show -a/-n`).
    When no chosen commit has metrics the workspace stands in, labelled as such. Failed, queued, errored and
    metric-less experiments are skipped.
    """
    runs: list[Run] = []
    seen: set[str] = set()
    commits = [r for r in records if r.get("rev") != "workspace"]
    for i, record in enumerate(commits if include_baselines else commits[:1]):
        run = _run(record, metrics_file, params_file, _baseline_label(record, head=i == 0))
        if run is not None and run.rev not in seen:
            seen.add(run.rev)
            runs.append(run)
    if not runs:
        workspace = next((r for r in records if r.get("rev") == "workspace"), None)
        run = _run(workspace, metrics_file, params_file, _baseline_label(workspace, True)) if workspace else None
        if run is not None:
            seen.add(run.rev)
            runs.append(run)
    for state in _iter_experiments(records):
        run = _run(state, metrics_file, params_file)
        if run is not None and run.rev not in seen:
            seen.add(run.rev)
            runs.append(run)
    return runs


def group_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The params that define a group: all but seeds and those that cannot change outputs (report.*, throughput knobs:
    reporting.exps.OUTPUT_NEUTRAL_PARAMS), so runs that differ only there are seeds of one experiment."""
    return {k: v for k, v in sorted(params.items()) if not is_seed(k) and not is_output_neutral(k)}


def group_runs(runs: Sequence[Run]) -> list[Group]:
    """Group runs by `group_params`, in order of first appearance. A baseline joins the group of its seeds (queued
    `-S seed=...` runs of the same params); two baselines (`--include-baselines`) are never merged with each other.

    Groups holding a baseline get ids B (or B1, B2, … with several), the others 1, 2, ….
    """
    groups: dict[str, Group] = {}
    for run in runs:
        shared = group_params(run.params)
        key = json.dumps(shared, sort_keys=True, default=str)
        if run.baseline is not None and key in groups and groups[key].baseline is not None:
            key = f"baseline:{run.rev}:{key}"
        group = groups.setdefault(key, Group(key=key, params=shared))
        if run.baseline is not None and group.baseline is None:
            group.baseline = run.baseline
        group.runs.append(run)
    out = list(groups.values())
    baselines = [g for g in out if g.baseline is not None]
    for i, g in enumerate(baselines, 1):
        g.gid = "B" if len(baselines) == 1 else f"B{i}"
    for i, g in enumerate((g for g in out if g.baseline is None), 1):
        g.gid = str(i)
    return out


def varying_params(groups: Sequence[Group]) -> list[str]:
    """Params whose value differs between groups (what distinguishes them)."""
    keys = sorted({k for g in groups for k in g.params})
    return [k for k in keys if len({json.dumps(g.params.get(k), sort_keys=True, default=str) for g in groups}) > 1]


def t_interval(values: Sequence[float | None], confidence: float = 0.95, bounds: tuple[float, float] = (-INF, INF)) -> Interval:
    """Mean and Student-t confidence interval of the non-missing values, clipped to `bounds` (the metric's range)."""
    x = np.array([v for v in values if v is not None], dtype=float)
    if x.size == 0:
        return Interval(None, None, None, 0)
    mean = float(x.mean())
    if x.size < 2:
        return Interval(mean, None, None, 1)
    half = float(stats.t.ppf(0.5 + confidence / 2, df=x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    # the mean of in-range values is in range; the interval is cut at the range but always contains the mean
    low = min(mean, max(mean - half, bounds[0]))
    high = max(mean, min(mean + half, bounds[1]))
    return Interval(mean, low, high, int(x.size))


# ---------------------------------------------------------------- outputs
def _fmt_interval(iv: Interval) -> str:
    if iv.mean is None:
        return NA
    if iv.low is None or iv.high is None:
        return f"{fmt(iv.mean)} (n={iv.n})"
    return f"{fmt(iv.mean)} [{fmt(iv.low)}, {fmt(iv.high)}]"


def group_label(group: Group, varying: Sequence[str]) -> str:
    """Plain-text label of a group: baseline marker and its values of the varying params."""
    params = ", ".join(f"{k}={json.dumps(group.params.get(k), default=str)}" for k in varying)
    if group.baseline is not None:
        return f"{group.baseline}: {params}" if params else group.baseline
    return params or "all runs"


def _group_cell(group: Group, varying: Sequence[str]) -> str:
    params = ", ".join(f"{code(k)}={escape_cell(json.dumps(group.params.get(k), default=str), 60)}" for k in varying)
    if group.baseline is not None:
        head = f"**{escape_cell(group.baseline, 80)}**"
        return f"{group.gid}: {head} {params}".rstrip()
    return f"{group.gid}: {params or 'all runs'}"


def _present(groups: Sequence[Group], metric: str) -> bool:
    return any(v is not None for g in groups for p in g.policy_infos() for v in g.values(p.key, metric))


def frontier_metric(groups: Sequence[Group]) -> str:
    """The frontier's y metric: gold reward when every group with policies has it, else the normalised proxy."""
    with_policies = [g for g in groups if g.policy_infos()]
    if with_policies and all(_present([g], "gold_reward") for g in with_policies):
        return "gold_reward"
    return "proxy_reward_norm"


def compare_markdown(groups: Sequence[Group], figure_name: str | None) -> str:
    """The compare.md text: groups, every policy of every group (mean [clipped 95% t-CI] across seeds), runs."""
    varying = varying_params(groups)
    run_metrics = [m for m in RUN_METRICS if any(r.scalars.get(m.key) is not None for g in groups for r in g.runs)]
    group_rows = []
    for g in groups:
        seeds = ", ".join(escape_cell(r.seed, 20) for r in g.runs)
        group_rows.append(
            [_group_cell(g, varying), f"{len(g.runs)} ({seeds})"]
            + [_fmt_interval(t_interval([r.scalars.get(m.key) for r in g.runs], bounds=m.bounds)) for m in run_metrics]
        )
    metrics = [m for m in POLICY_METRICS if _present(groups, m.key)]
    policy_rows = [
        [escape_cell(g.gid), escape_cell(p.label, 60)]
        + [_fmt_interval(t_interval(g.values(p.key, m.key), bounds=m.bounds)) for m in metrics]
        for g in groups
        for p in g.policy_infos()
    ]
    run_rows = [
        [escape_cell(g.gid), escape_cell(r.name, 60), escape_cell(r.rev[:7]), escape_cell(r.seed, 20)]
        + [fmt(r.scalars.get(m.key)) for m in run_metrics]
        for g in groups
        for r in g.runs
    ]
    n_runs = sum(len(g.runs) for g in groups)
    n_base = sum(1 for g in groups if g.baseline is not None)
    y_name = "gold reward" if frontier_metric(groups) == "gold_reward" else "normalised proxy reward"
    parts = [
        "# rlhf-bench: experiment comparison",
        f"{n_runs} finished runs in {len(groups)} group(s) (same params except seeds and output-neutral params)"
        + (
            f"; the group{'s' if n_base > 1 else ''} holding the committed baseline {'are' if n_base > 1 else 'is'} B."
            if n_base
            else "."
        )
        + " "
        + INTERVAL_NOTE,
    ]
    if not _present(groups, "gold_reward"):
        parts.append("_No gold reward in these runs (real preference data): proxy only._")
    parts += [
        "## Groups",
        md_table(
            ["group", "runs (seeds)"] + [m.header for m in run_metrics], group_rows, ["---", "---:"] + ["---:"] * len(run_metrics)
        ),
        "## Policies",
        md_table(["group", "policy"] + [m.header for m in metrics], policy_rows, ["---", "---"] + ["---:"] * len(metrics))
        if policy_rows
        else "_No policy metrics in these runs._",
    ]
    if figure_name:
        parts.append(f"![{escape_inline(y_name)} vs sqrt KL per group and method]({figure_name})")
    parts += ["## Runs", md_table(["group", "experiment", "rev", "seed"] + [m.header for m in run_metrics], run_rows)]
    return "\n\n".join(parts) + "\n"


def _series_label(infos: Sequence[PolicyInfo]) -> str:
    first = infos[0]
    knobs = [p.knob for p in infos if p.knob is not None]
    if first.series == BEST_OF_N and knobs:
        return f"best-of-n (n={int(min(knobs))}…{int(max(knobs))})" if len(knobs) > 1 else first.label
    if knobs and first.series != "base":
        return f"{first.series_label} (β={', '.join(f'{k:g}' for k in sorted(knobs))})"
    return first.label


MARKERS = ("o", "s", "^", "v", "P", "X", "<", ">")


def plot_compare_frontier(groups: Sequence[Group], path: Path, dpi: int = 110) -> Path | None:
    """Per group, every policy at (mean √KL, mean gold — or normalised proxy without gold) joined per method/curve,
    with clipped 95% t-CI error bars across seeds in both axes; one colour per group, one marker per method. The legend
    has one entry per group and one per method (not one per pair), outside the axes, so it never covers the data."""
    from matplotlib.lines import Line2D

    y_key = frontier_metric(groups)
    fig, axes = new_figure(1, 1, 8.0, 5.6)
    ax = axes[0, 0]
    markers: dict[str, str] = {"base": "*"}
    method_names: dict[str, str] = {}
    group_handles = []
    y_metric = next(m for m in POLICY_METRICS if m.key == y_key)
    varying = varying_params(groups)
    for gi, g in enumerate(groups):
        color = "black" if g.baseline is not None else CURVE_COLORS[gi % len(CURVE_COLORS)]
        series: dict[str, list[PolicyInfo]] = {}
        for p in g.policy_infos():
            series.setdefault(p.series, []).append(p)
        drawn_group = False
        for key, infos in series.items():
            pts = []
            for p in infos:
                xs = t_interval(g.values(p.key, SQRT_KL.key), bounds=SQRT_KL.bounds)
                ys = t_interval(g.values(p.key, y_key), bounds=y_metric.bounds)
                if xs.mean is not None and ys.mean is not None:
                    pts.append((xs, ys))
            if not pts:
                continue
            pts.sort(key=lambda xy: xy[0].mean)
            marker = markers.setdefault(key, MARKERS[(len(markers) - 1) % len(MARKERS)])
            method_names.setdefault(key, infos[0].series_label if infos[0].series != "base" else infos[0].label)
            ax.errorbar(
                [x.mean for x, _ in pts],
                [y.mean for _, y in pts],
                xerr=_err([x for x, _ in pts]),
                yerr=_err([y for _, y in pts]),
                fmt=marker,
                color=color,
                ms=11 if marker == "*" else 5,
                capsize=2,
                elinewidth=0.8,
                linestyle="-" if len(pts) > 1 else "none",
                linewidth=0.9,
                alpha=0.9,
            )
            drawn_group = True
        if drawn_group:
            label = mpl_text(f"{g.gid}: {group_label(g, varying)} (n={len(g.runs)})")
            group_handles.append(Line2D([], [], color=color, linewidth=2, label=label))
    if not group_handles:
        return None
    method_handles = [
        Line2D(
            [], [], color="dimgray", marker=markers[k], linestyle="none", ms=9 if markers[k] == "*" else 5, label=mpl_text(name)
        )
        for k, name in method_names.items()
    ]
    ax.set_xlabel(SQRT_KL_LABEL)
    ax.set_ylabel("gold reward (gold scorer)" if y_key == "gold_reward" else "proxy reward (base-policy std. units)")
    what = "Gold" if y_key == "gold_reward" else "Normalised proxy"
    ax.set_title(f"{what} reward vs √KL per experiment group (mean, clipped 95% t-CI across seeds)", fontsize=9)
    handles = group_handles + method_handles
    fig.legend(
        handles=handles,
        loc="outside right upper",
        fontsize=7,
        frameon=False,
        title="group (colour) · method (marker)",
        title_fontsize=7,
    )
    return save_figure(fig, path, dpi)


def _err(ivs: Sequence[Interval]) -> np.ndarray | None:
    if all(iv.low is None or iv.high is None for iv in ivs):
        return None
    lo = [iv.mean - iv.low if iv.low is not None and iv.mean is not None else 0.0 for iv in ivs]
    hi = [iv.high - iv.mean if iv.high is not None and iv.mean is not None else 0.0 for iv in ivs]
    return np.clip(np.array([lo, hi], dtype=float), 0.0, None)


# ---------------------------------------------------------------- entry point
def run_exp_show(repo_dir: Path, *args: str) -> list[dict[str, Any]]:
    """`dvc exp show --json [args]` of the repository at `repo_dir`, parsed."""
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--json", *args], cwd=repo_dir, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dvc exp show --json failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)


def compare(
    records: Sequence[Mapping[str, Any]],
    out_dir: Path,
    metrics_file: str = METRICS_FILE,
    params_file: str = "params.yaml",
    include_baselines: bool = False,
    dpi: int = 110,
) -> Path:
    """Write compare.md (and compare_frontier.png when any policy has a KL and a reward) into `out_dir`; return compare.md."""
    groups = group_runs(collect_runs(records, metrics_file, params_file, include_baselines))
    out_dir.mkdir(parents=True, exist_ok=True)
    figure = out_dir / "compare_frontier.png"
    figure.unlink(missing_ok=True)
    drawn = plot_compare_frontier(groups, figure, dpi) if groups else None
    text = (
        compare_markdown(groups, figure.name if drawn else None)
        if groups
        else "# rlhf-bench: experiment comparison\n\n_No finished experiments with metrics found._\n"
    )
    report = out_dir / "compare.md"
    report.write_text(text, encoding="utf-8")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = OneLineParser(prog="python -m reporting.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out-dir", type=Path, default=Path("reports/compare"), help="where compare.md and compare_frontier.png go"
    )
    parser.add_argument("--input", type=Path, default=None, help="a saved `dvc exp show --json` output (default: run it)")
    parser.add_argument("--metrics-file", default=METRICS_FILE, help="metrics file path as dvc reports it")
    parser.add_argument("--params-file", default="params.yaml", help="params file path as dvc reports it")
    parser.add_argument(
        "--include-baselines",
        action="store_true",
        help="also compare older baseline commits (`dvc exp show -a/-n`); the HEAD baseline is always included",
    )
    parser.add_argument("--dpi", type=positive_int, default=110)
    args = parser.parse_args(argv)
    try:
        records = json.loads(args.input.read_text()) if args.input else run_exp_show(Path.cwd())
    except (OSError, RuntimeError, json.JSONDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        print("error: expected a JSON list of objects (the output of `dvc exp show --json`)", file=sys.stderr)
        return 2
    try:
        path = compare(records, args.out_dir, args.metrics_file, args.params_file, args.include_baselines, args.dpi)
    except OSError as err:
        print(f"error: --out-dir: cannot write into {args.out_dir} ({err.strerror or err})", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Aggregate finished DVC experiments into a cross-experiment table and frontier figure.

    python -m reports.compare [--out-dir reports/compare] [--input exp_show.json]

Without --input it runs `dvc exp show --json` in the current repository. Runs are
grouped by every parameter except seeds; each group reports the mean and a
t-based 95% confidence interval across its seeds. Writes `compare.md` and
`compare_frontier.png` into --out-dir.
"""

from __future__ import annotations

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

from pipeline.errors import OneLineParser, positive_int
from reports.data import as_float, get
from reports.escape import code, escape_cell
from reports.figures import SQRT_KL_LABEL, new_figure, save_figure
from reports.tables import NA, fmt, md_table

# (dotted path in metrics.json, column header)
COMPARE_METRICS: tuple[tuple[str, str], ...] = (
    ("policies.ppo.gold_reward.mean", "PPO gold reward"),
    ("policies.ppo.kl.mean", "PPO KL (nats)"),
    ("policies.ppo.proxy_reward.mean", "PPO proxy reward"),
    ("reward_model.accuracy_gold", "RM accuracy (gold order)"),
)
SQRT_KL = "sqrt_kl"
# executor states of experiments that have not finished successfully
UNFINISHED = {"queued", "running", "failed"}


@dataclass(frozen=True)
class Run:
    """One finished experiment: its identity, flattened params and the compared metrics (None when missing)."""

    name: str
    rev: str
    params: Mapping[str, Any]
    values: Mapping[str, float | None]

    @property
    def seed(self) -> Any:
        # the top-level seed when there is one, else the first section seed
        return self.params.get("seed", next((v for k, v in self.params.items() if is_seed(k)), None))


@dataclass
class Group:
    """Runs that share every non-seed parameter."""

    key: str
    params: Mapping[str, Any]
    runs: list[Run] = field(default_factory=list)


@dataclass(frozen=True)
class Interval:
    """Mean and t-based 95% CI across seeds; the bounds are None with fewer than 2 values."""

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


def _iter_states(records: Sequence[Mapping[str, Any]], include_baselines: bool) -> Iterator[Mapping[str, Any]]:
    """Experiment states of finished experiments (and baseline commits when asked; never the workspace)."""
    for record in records:
        if include_baselines and record.get("rev") != "workspace":
            yield record
        for exp_range in record.get("experiments") or []:
            state = get(exp_range, "executor", "state")
            if state in UNFINISHED:
                continue
            for rev_state in exp_range.get("revs") or []:
                yield {"name": exp_range.get("name"), **rev_state}


def collect_runs(
    records: Sequence[Mapping[str, Any]],
    metrics_file: str = "results/metrics.json",
    params_file: str = "params.yaml",
    include_baselines: bool = False,
) -> list[Run]:
    """Finished runs with metrics from a `dvc exp show --json` list; failed, queued and metric-less entries are skipped."""
    runs: list[Run] = []
    seen: set[str] = set()
    for state in _iter_states(records, include_baselines):
        data = state.get("data")
        rev = str(state.get("rev") or "")
        if state.get("error") or not isinstance(data, dict) or rev in seen:
            continue
        metrics = _file_data(data.get("metrics"), metrics_file)
        if metrics is None:
            continue
        seen.add(rev)
        params = flatten(_file_data(data.get("params"), params_file) or {})
        values: dict[str, float | None] = {key: as_float(get(metrics, *key.split("."))) for key, _ in COMPARE_METRICS}
        kl = values["policies.ppo.kl.mean"]
        values[SQRT_KL] = math.sqrt(max(kl, 0.0)) if kl is not None else None
        runs.append(Run(name=str(state.get("name") or rev[:7]), rev=rev, params=params, values=values))
    return runs


def group_runs(runs: Sequence[Run]) -> list[Group]:
    """Group runs by all params except seeds, in order of first appearance."""
    groups: dict[str, Group] = {}
    for run in runs:
        shared = {k: v for k, v in sorted(run.params.items()) if not is_seed(k)}
        key = json.dumps(shared, sort_keys=True, default=str)
        groups.setdefault(key, Group(key=key, params=shared)).runs.append(run)
    return list(groups.values())


def varying_params(groups: Sequence[Group]) -> list[str]:
    """Params whose value differs between groups (what distinguishes them)."""
    keys = sorted({k for g in groups for k in g.params})
    return [k for k in keys if len({json.dumps(g.params.get(k), sort_keys=True, default=str) for g in groups}) > 1]


def t_interval(values: Sequence[float | None], confidence: float = 0.95) -> Interval:
    """Mean and Student-t confidence interval of the non-missing values."""
    x = np.array([v for v in values if v is not None], dtype=float)
    if x.size == 0:
        return Interval(None, None, None, 0)
    mean = float(x.mean())
    if x.size < 2:
        return Interval(mean, None, None, 1)
    half = float(stats.t.ppf(0.5 + confidence / 2, df=x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return Interval(mean, mean - half, mean + half, int(x.size))


# ---------------------------------------------------------------- outputs
def _fmt_interval(iv: Interval) -> str:
    if iv.mean is None:
        return NA
    if iv.low is None or iv.high is None:
        return f"{fmt(iv.mean)} (n={iv.n})"
    return f"{fmt(iv.mean)} [{fmt(iv.low)}, {fmt(iv.high)}]"


def group_label(group: Group, varying: Sequence[str]) -> str:
    """Plain-text label of a group: its values of the varying params."""
    if not varying:
        return "all runs"
    return ", ".join(f"{k}={json.dumps(group.params.get(k), default=str)}" for k in varying)


def compare_markdown(groups: Sequence[Group], figure_name: str | None) -> str:
    """The compare.md text: a per-group table (mean [95% t-CI] across seeds) and a per-run table."""
    varying = varying_params(groups)
    headers = ["group", "runs (seeds)"] + [h for _, h in COMPARE_METRICS]
    rows = []
    for i, g in enumerate(groups, 1):
        seeds = ", ".join(escape_cell(r.seed, 20) for r in g.runs)
        label = ", ".join(f"{code(k)}={escape_cell(json.dumps(g.params.get(k), default=str), 60)}" for k in varying) or "all runs"
        rows.append(
            [f"{i}: {label}", f"{len(g.runs)} ({seeds})"]
            + [_fmt_interval(t_interval([r.values[k] for r in g.runs])) for k, _ in COMPARE_METRICS]
        )
    run_rows = [
        [str(i), escape_cell(r.name, 60), escape_cell(r.rev[:7]), escape_cell(r.seed, 20)]
        + [fmt(r.values[k]) for k, _ in COMPARE_METRICS]
        for i, g in enumerate(groups, 1)
        for r in g.runs
    ]
    parts = [
        "# rlhf-bench: experiment comparison",
        f"{sum(len(g.runs) for g in groups)} finished experiments in {len(groups)} groups (same params except seed). "
        "Cells: mean [95% t-interval across seeds]; a group with one run shows its value and n=1.",
        md_table(headers, rows, ["---", "---:"] + ["---:"] * len(COMPARE_METRICS)),
    ]
    if figure_name:
        parts.append(f"![PPO gold reward vs sqrt KL per group]({figure_name})")
    parts += ["## Runs", md_table(["group", "experiment", "rev", "seed"] + [h for _, h in COMPARE_METRICS], run_rows)]
    return "\n\n".join(parts) + "\n"


def plot_compare_frontier(groups: Sequence[Group], path: Path, dpi: int = 110) -> Path | None:
    """PPO gold reward vs √KL per group: seeds as faint points, the group mean with 95% t-CI error bars in both axes."""
    varying = varying_params(groups)
    fig, axes = new_figure(1, 1, 7.0, 4.8)
    ax = axes[0, 0]
    drawn = False
    for i, g in enumerate(groups, 1):
        pts = [(r.values[SQRT_KL], r.values["policies.ppo.gold_reward.mean"]) for r in g.runs]
        pts = [(x, y) for x, y in pts if x is not None and y is not None]
        if not pts:
            continue
        xs, ys = t_interval([p[0] for p in pts]), t_interval([p[1] for p in pts])
        line = ax.errorbar(
            xs.mean,
            ys.mean,
            xerr=_err(xs),
            yerr=_err(ys),
            fmt="o",
            capsize=4,
            label=f"{i}: {group_label(g, varying)} (n={len(pts)})",
        )
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=12, alpha=0.35, color=line[0].get_color())
        drawn = True
    if not drawn:
        return None
    ax.set_xlabel(SQRT_KL_LABEL)
    ax.set_ylabel("PPO gold reward (gold scorer)")
    ax.set_title("PPO gold reward vs √KL per experiment group (mean, 95% t-CI across seeds)")
    ax.legend(fontsize=7)
    return save_figure(fig, path, dpi)


def _err(iv: Interval) -> list[list[float]] | None:
    if iv.low is None or iv.high is None or iv.mean is None:
        return None
    return [[iv.mean - iv.low], [iv.high - iv.mean]]


# ---------------------------------------------------------------- entry point
def run_exp_show(repo_dir: Path) -> list[dict[str, Any]]:
    """`dvc exp show --json` of the repository at `repo_dir`, parsed."""
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=repo_dir, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dvc exp show --json failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)


def compare(
    records: Sequence[Mapping[str, Any]],
    out_dir: Path,
    metrics_file: str = "results/metrics.json",
    params_file: str = "params.yaml",
    include_baselines: bool = False,
    dpi: int = 110,
) -> Path:
    """Write compare.md (and compare_frontier.png when any run has PPO gold reward and KL) into `out_dir`; return compare.md."""
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
    parser = OneLineParser(prog="python -m reports.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out-dir", type=Path, default=Path("reports/compare"), help="where compare.md and compare_frontier.png go"
    )
    parser.add_argument("--input", type=Path, default=None, help="a saved `dvc exp show --json` output (default: run it)")
    parser.add_argument("--metrics-file", default="results/metrics.json", help="metrics file path as dvc reports it")
    parser.add_argument("--params-file", default="params.yaml", help="params file path as dvc reports it")
    parser.add_argument("--include-baselines", action="store_true", help="also count baseline commits (never the workspace)")
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

"""The seed study: the committed run repeated over seeds, aggregated per curve and per method.

    make seeds                                   # queue seeds 1 and 2 of the committed params, run them, write the study
    python -m reporting.study                    # aggregate the finished runs only (reports/study/)

The runs are the committed baseline (HEAD) and every finished DVC experiment whose params equal the baseline's except
for `seed` and params that cannot change outputs (reporting.exps.OUTPUT_NEUTRAL_PARAMS); one run per seed. Each run
is read from its own commit (`git show <rev>:results/metrics.json` and results/frontier.csv), so what the study
reports is what each run committed. Curves are matched across seeds by role (a method's i-th curve), the way the DVC
metrics file keys them. Per curve: where the gold peaks (KL and gold), the gold at the end, the drop from peak to end,
and in how many seeds the curve over-optimises: the selection-aware peak-minus-last test is significant (a reality-check
p < 0.05 over prompts, metrics/peak_stats.py) while the proxy at the end is above the proxy at the peak. Per method:
gold at KL budgets 1, 3, 6 and 12 nats (its best curve there), and how often each method wins a budget. Across-seed
intervals are 95% Student-t intervals (n - 1 degrees of freedom; with 3 seeds they are wide, as they should be).
Writes seeds.json (every per-seed number the tables are computed from, with each run's rev), seeds.md and
seeds_frontier.png into --out-dir. The report stage cites seeds.json when its params match the run it reports.
"""

from __future__ import annotations

import pipeline  # noqa: F401  (run as `python -m`: pins numpy's kernels before numpy loads; pipeline/__init__.py)

# isort: split
import io
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import CURVE_KNOBS
from pipeline.errors import OneLineParser
from reporting.compare import Interval, Run, collect_runs, group_params, run_exp_show, t_interval
from reporting.escape import escape_cell
from reporting.figures import curve_colors, curve_marker, mpl_text, new_figure, save_figure, set_kl_axis
from reporting.summary import KL_BUDGETS, curve_roles, matched_kl
from reporting.tables import METHOD_LABELS, NA, fmt, md_table

OUT_DIR = Path("reports/study")
STUDY_FILE = OUT_DIR / "seeds.json"
GOLD_BOUNDS = (-1.0, 1.0)
CURVE_FIELDS = ("peak_kl", "peak_gold", "last_kl", "last_gold", "gold_drop")
METHODS = (*CURVE_KNOBS, "best_of_n")


@dataclass(frozen=True)
class SeedRun:
    """One run of the study: its seed, name, rev and the two result files read from its commit."""

    seed: int
    name: str
    rev: str
    metrics: Mapping[str, Any]
    frontier: pd.DataFrame


def members(runs: Sequence[Run]) -> list[Run]:
    """The baseline (first run) and every run with its study params, one per seed (the first one seen)."""
    if not runs:
        return []
    group, seen, out = group_params(runs[0].params), set(), []
    for run in runs:
        if group_params(run.params) == group and run.seed not in seen:
            seen.add(run.seed)
            out.append(run)
    return out


def git_file(rev: str, path: str, repo: Path = Path()) -> str:
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise FileNotFoundError(f"{path} at {rev[:7]}: {proc.stderr.strip()}")
    return proc.stdout


def load_seed_run(run: Run, repo: Path = Path()) -> SeedRun:
    metrics = json.loads(git_file(run.rev, "results/metrics.json", repo))
    frontier = pd.read_csv(io.StringIO(git_file(run.rev, "results/frontier.csv", repo)))
    return SeedRun(int(run.seed), run.name, run.rev, metrics, frontier)


# ---------------------------------------------------------------- per run
def curve_outcomes(run: SeedRun) -> dict[str, dict[str, Any]]:
    """{'<method>.curve<i>': peak, end, drop and the over-optimisation verdict} of one run."""
    curves = run.metrics.get("curves") or {}
    peaks, selection = run.metrics.get("overoptimisation") or {}, run.metrics.get("peak_selection") or {}
    out = {}
    for name, (method, role) in curve_roles(curves).items():
        peak, sel = peaks.get(name), selection.get(name)
        if not peak:
            continue
        significant = bool(sel and sel.get("gold_drop_significant"))
        out[f"{method}.{role}"] = {
            "method": method,
            "knob": curves[name]["knob"],
            "peak_kl": peak["peak_kl"],
            "peak_gold": peak["peak_gold_reward"],
            "last_kl": peak["last_kl"],
            "last_gold": peak["last_gold_reward"],
            "gold_drop": peak["gold_drop"],
            "gold_drop_p_value": sel.get("gold_drop_p_value") if sel else None,
            "overoptimises": significant and peak["last_proxy_reward"] > peak["peak_proxy_reward"],
            "points": run.frontier.loc[
                (run.frontier["curve"] == name) & (run.frontier["method"] != "policy"), ["kl", "gold_reward"]
            ].to_dict("list"),
        }
    return out


def method_matched(run: SeedRun) -> dict[str, dict[str, float]]:
    """{method: gold at each KL budget, best gold and its KL} of one run (reporting.summary.matched_kl)."""
    rows = run.frontier[(run.frontier["method"] != "policy") & run.frontier["gold_reward"].notna()]
    return {m: matched_kl(rows[rows["method"] == m]) for m in METHODS if (rows["method"] == m).any()}


def per_run(run: SeedRun) -> dict[str, Any]:
    return {"seed": run.seed, "name": run.name, "rev": run.rev, "curves": curve_outcomes(run), "methods": method_matched(run)}


# ---------------------------------------------------------------- across seeds
def _iv(values: Sequence[float | None], bounds=(-np.inf, np.inf)) -> dict[str, Any]:
    iv: Interval = t_interval(values, bounds=bounds)
    return {"mean": iv.mean, "ci_low": iv.low, "ci_high": iv.high, "n": iv.n}


def winners(per_seed: Sequence[Mapping[str, Any]], budget: int) -> dict[str, int]:
    """{method: seeds in which it has the highest gold at the budget} (seeds where < 2 methods reach it are skipped)."""
    counts: dict[str, int] = {}
    for run in per_seed:
        reached = {m: v[f"gold_at_kl{budget}"] for m, v in run["methods"].items() if f"gold_at_kl{budget}" in v}
        if len(reached) >= 2:
            best = max(reached, key=reached.get)
            counts[best] = counts.get(best, 0) + 1
    return counts


def aggregate(per_seed: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Across-seed summaries of the per-run numbers."""
    roles: dict[str, list[Mapping[str, Any]]] = {}
    for run in per_seed:
        for role, c in run["curves"].items():
            roles.setdefault(role, []).append(c)
    curves = {}
    for role, cs in roles.items():
        bounds = {"peak_gold": GOLD_BOUNDS, "last_gold": GOLD_BOUNDS, "peak_kl": (0, np.inf), "last_kl": (0, np.inf)}
        curves[role] = {
            "method": cs[0]["method"],
            "knob": cs[0]["knob"],
            "seeds": len(cs),
            "overoptimises_in": sum(bool(c["overoptimises"]) for c in cs),
        } | {f: _iv([c[f] for c in cs], bounds.get(f, (-np.inf, np.inf))) for f in CURVE_FIELDS}
    methods: dict[str, dict[str, Any]] = {}
    for m in METHODS:
        runs = [r["methods"][m] for r in per_seed if m in r["methods"]]
        if runs:
            methods[m] = {f"gold_at_kl{k}": _iv([r.get(f"gold_at_kl{k}") for r in runs], GOLD_BOUNDS) for k in KL_BUDGETS} | {
                "best_gold": _iv([r.get("best_gold") for r in runs], GOLD_BOUNDS),
                "best_gold_kl": _iv([r.get("best_gold_kl") for r in runs], (0, np.inf)),
            }
    return {
        "n_seeds": len(per_seed),
        "seeds": [r["seed"] for r in per_seed],
        "curves": curves,
        "methods": methods,
        "winners": {str(k): winners(per_seed, k) for k in KL_BUDGETS},
    }


def build_study(runs: Sequence[SeedRun], params: Mapping[str, Any]) -> dict[str, Any]:
    per_seed = [per_run(r) for r in runs]
    return {"params": group_params(params), "runs": per_seed} | aggregate(per_seed)


# ---------------------------------------------------------------- outputs
def curve_label(method: str, knob: Any) -> str:
    return f"{METHOD_LABELS.get(method, method)} (β={knob:g})"


def interval_cell(stat: Mapping[str, Any]) -> str:
    """'mean [low, high]' of an across-seed summary; the mean alone with one seed; n/a without a value."""
    if stat.get("mean") is None:
        return NA
    if stat.get("ci_low") is None:
        return fmt(stat["mean"])
    return f"{fmt(stat['mean'])} [{fmt(stat['ci_low'])}, {fmt(stat['ci_high'])}]"


def study_markdown(study: Mapping[str, Any], figure: str | None) -> str:
    n = study["n_seeds"]
    seeds = ", ".join(str(s) for s in study["seeds"])
    lines = [
        "# rlhf-bench: seed study",
        "",
        f"{n} runs of the same params (seeds {seeds}): pretraining, preference labels, reward model and every curve "
        "re-seeded. Cells: mean [95% Student-t interval across seeds]. Made by `python -m reporting.study` "
        "from the runs listed at the end; the numbers are in seeds.json.",
        "",
        "## Per curve: the gold peak and what follows",
        "",
        "A curve over-optimises in a seed when its selection-aware peak-minus-last test is significant (p < 0.05, "
        "prompts resampled with the argmax recomputed) while its proxy at the end is above the proxy at the peak.",
        "",
    ]
    rows = [
        [
            escape_cell(curve_label(c["method"], c["knob"])),
            f"{c['overoptimises_in']} of {c['seeds']}",
            *(interval_cell(c[f]) for f in CURVE_FIELDS),
        ]
        for c in study["curves"].values()
    ]
    headers = ["curve", "over-optimises in", "KL at peak", "gold at peak", "KL at end", "gold at end", "drop (peak − end)"]
    lines += [md_table(headers, rows, ["---", "---:"] + ["---:"] * len(CURVE_FIELDS)), ""]
    lines += ["## Per method: gold at matched KL", ""]
    budgets = [f"gold_at_kl{k}" for k in KL_BUDGETS]
    rows = [
        [
            escape_cell(METHOD_LABELS.get(m, m)),
            *(interval_cell(v[b]) for b in budgets),
            interval_cell(v["best_gold"]),
            interval_cell(v["best_gold_kl"]),
        ]
        for m, v in study["methods"].items()
    ]
    lines += [
        md_table(
            ["method", *(f"KL {k}" for k in KL_BUDGETS), "best gold", "its KL"], rows, ["---"] + ["---:"] * (len(budgets) + 2)
        ),
        "",
    ]
    win_rows = []
    for k in KL_BUDGETS:
        counts = study["winners"][str(k)]
        if counts:
            text = ", ".join(f"{METHOD_LABELS.get(m, m)} {c} of {n}" for m, c in sorted(counts.items(), key=lambda mc: -mc[1]))
            win_rows.append([str(k), escape_cell(text)])
    if win_rows:
        lines += [
            "Highest gold at each budget, counted over seeds (seeds where fewer than two methods reach it are not counted):",
            "",
        ]
        lines += [md_table(["KL budget (nats)", "wins"], win_rows, ["---:", "---"]), ""]
    if figure:
        lines += [f"![gold reward vs √KL, mean and across-seed band per curve]({figure})", ""]
    lines += ["## Runs", ""]
    lines += [
        md_table(
            ["seed", "run", "rev"], [[str(r["seed"]), escape_cell(r["name"], 40), f"`{r['rev'][:7]}`"] for r in study["runs"]]
        ),
        "",
    ]
    return "\n".join(lines)


def plot_study_frontier(study: Mapping[str, Any], path: Path, dpi: int = 110) -> Path | None:
    """Gold vs √KL per curve: each seed's points (faint) and the mean over seeds on a shared √KL grid with a min–max band.
    The grid stops where the first seed's curve ends, so the mean never extrapolates. Curves (keyed by role,
    'ppo.curve1') get the report's colours and markers (reporting.figures.curve_colors), by method and order."""
    fig, axes = new_figure(1, 1, 8.0, 5.0)
    ax = axes[0, 0]
    drawn = False
    colors = curve_colors([(role, agg["method"]) for role, agg in study["curves"].items()])
    for role, agg in study["curves"].items():
        color = colors[role]
        seeds = [r["curves"][role]["points"] for r in study["runs"] if role in r["curves"]]
        curves = []
        for pts in seeds:
            x, y = np.sqrt(np.clip(np.asarray(pts["kl"], float), 0, None)), np.asarray(pts["gold_reward"], float)
            order = np.argsort(x, kind="stable")
            curves.append((x[order], y[order]))
            ax.plot(x[order], y[order], color=color, alpha=0.25, linewidth=0.8)
        if not curves:
            continue
        grid = np.linspace(0.0, min(c[0].max() for c in curves), 40)
        ys = np.array([np.interp(grid, cx, cy) for cx, cy in curves])
        ax.fill_between(grid, ys.min(axis=0), ys.max(axis=0), color=color, alpha=0.15, linewidth=0)
        label = f"{curve_label(agg['method'], agg['knob'])}: over-optimises in {agg['overoptimises_in']} of {agg['seeds']} seeds"
        mean = ys.mean(axis=0)
        marker = curve_marker(agg["method"])
        ax.plot(grid, mean, color=color, linewidth=2, marker=marker, ms=5, markevery=8, label=mpl_text(label))
        drawn = True
    if not drawn:
        return None
    set_kl_axis(ax)
    ax.set_ylabel("gold reward")
    ax.set_title(f"Gold vs KL over {study['n_seeds']} seeds: mean (line), min–max band, each seed (faint)", fontsize=9)
    ax.legend(loc="best", fontsize=7, frameon=True)
    return save_figure(fig, path, dpi)


def write_study(study: Mapping[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    figure = plot_study_frontier(study, out_dir / "seeds_frontier.png")
    (out_dir / "seeds.json").write_text(json.dumps(study, indent=1, default=float) + "\n", encoding="utf-8")
    report = out_dir / "seeds.md"
    report.write_text(study_markdown(study, figure.name if figure else None), encoding="utf-8")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m reporting.study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    parser.add_argument("--input", type=Path, default=None, help="a saved `dvc exp show --json` output (default: run it)")
    parser.add_argument("--rev", default=None, help="the baseline commit the seed experiments were queued from (default: HEAD)")
    args = parser.parse_args(argv)
    records = (
        json.loads(args.input.read_text()) if args.input else run_exp_show(Path.cwd(), *(["--rev", args.rev] if args.rev else []))
    )
    group = members(collect_runs(records))
    if len(group) < 2:
        print("error: the study needs the baseline and at least one finished seed experiment; run `make seeds`", file=sys.stderr)
        return 2
    runs = sorted((load_seed_run(r) for r in group), key=lambda r: r.seed)
    print(write_study(build_study(runs, group[0].params), args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Render REPORT.md, its appendix, its figures and the data of the DVC plots from a results folder.

    from reporting.render import render_report
    render_report("results", "REPORT.md", "reports/figures", appendix_path="reports/appendix.md", plots_dir="reports/plots")

Reads only saved results (see `reporting.data`); optional inputs that are missing
show as "not available". Figures and the appendix are linked relative to the report's folder.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

import pandas as pd

from reporting import data
from reporting.appendix import render_appendix
from reporting.provenance import git_info
from reporting.sections import (
    FIGURE_FILES,
    SECTION_TITLES,
    Context,
    agreement_section,
    curves_section,
    diversity_section,
    finding_section,
    frontier_section,
    gold_parts_section,
    gold_section,
    methods_section,
    provenance_section,
    reward_model_section,
    seeds_section,
    stored_peaks,
    study_covers,
    summary_section,
)
from reporting.tuning import tuning_section

log = logging.getLogger("rlhf_bench.reporting")
PLOT_FILES = ("frontier.csv", "training.csv")
STALE_PLOT_FILES = ("ppo_training.csv",)  # written by earlier versions (PPO's DVCLive scores and KL only)
# training.csv column <- eval.csv column: held-out values on the frontier's prompts, the same for every method
TRAINING_COLUMNS = {"proxy_reward": "proxy_reward_norm", "kl": "kl", "gold_reward": "gold_reward"}


def _write_atomic(path: Path, text: str) -> None:
    # a half-written report must never replace a good one
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _clear(folder: Path, names) -> None:
    # stale files from an earlier run must not look current; only our own file names are removed
    for name in names:
        (folder / name).unlink(missing_ok=True)


def write_plot_data(ctx: Context, plots_dir: Path) -> None:
    """Long-format CSVs for `dvc plots` (dvc.yaml), one row per point with the reader's label of its series.

    frontier.csv: series, method, sqrt_kl, gold_reward, proxy_reward; training.csv: series, method, update,
    proxy_reward (base-policy std. units), kl, gold_reward from every trained curve's held-out eval.csv.
    DVC templates colour by a column, so one file serves every curve however many the params define.
    """
    plots_dir.mkdir(parents=True, exist_ok=True)
    if ctx.frontier is not None:
        frontier_plot_data(ctx).to_csv(plots_dir / "frontier.csv", index=False)
    training = training_plot_data(ctx)
    if training is not None:
        training.to_csv(plots_dir / "training.csv", index=False)


def frontier_plot_data(ctx: Context) -> pd.DataFrame:
    """frontier.csv's rows, a curve's final policy labelled apart from the curve's points."""
    df, names = ctx.frontier, {c.name for c in ctx.curves}
    return pd.DataFrame(
        {
            "series": [
                ctx.label(c) + (" (final policy)" if m == "policy" and c in names else "")
                for m, c in zip(df["method"], df["curve"], strict=True)
            ],
            "method": df["method"],
            "sqrt_kl": df["sqrt_kl"],
            "gold_reward": df["gold_reward"],
            "proxy_reward": df["proxy_reward"],
        }
    )


def training_plot_data(ctx: Context) -> pd.DataFrame | None:
    """Every curve's held-out evaluation points (PPO, DPO, RLOO, GRPO alike); None when no curve has an eval.csv."""
    frames = []
    for curve in ctx.curves:
        evals = data.load_eval(curve)
        if evals is None:
            continue
        values = {k: evals[v] if v in evals.columns else float("nan") for k, v in TRAINING_COLUMNS.items()}
        frames.append(
            pd.DataFrame({"series": ctx.label(curve.name), "method": curve.method, "update": evals["update"], **values})
        )
    return pd.concat(frames, ignore_index=True) if frames else None


def _tuning_inputs(ctx: Context, tuning_dir: str | Path | None) -> tuple[dict | None, dict, str]:
    record_file = Path(tuning_dir) / "tuning.json" if tuning_dir is not None else None
    record = data.read_json(record_file) if record_file is not None and record_file.is_file() else None
    return record, data.get(ctx.metrics, "curves") or {}, ctx.link(record_file) if record_file is not None else ""


def render_report(
    results_dir: str | Path,
    report_path: str | Path,
    figures_dir: str | Path,
    *,
    appendix_path: str | Path | None = None,
    plots_dir: str | Path | None = None,
    n_samples_shown: int = 4,
    dpi: int = 110,
    repo_dir: str | Path | None = None,
    study_dir: str | Path | None = None,
    tuning_dir: str | Path | None = None,
    agreement_file: str | Path | None = None,
) -> Path:
    """Write the Markdown report to `report_path`, its PNG figures into `figures_dir`, the appendix and the DVC plot data; return the report path.

    `repo_dir` is the git repository queried for the revision (default: the cwd). `study_dir` holds the seed study
    (reporting.study: seeds.json, seeds.md, seeds_frontier.png); it is cited only when one of its runs is this run.
    `tuning_dir` holds the learning-rate tuning record (bench/tune.py: tuning.json), which the methods section cites.
    `agreement_file` is bench/gold_agreement.py's record (the independent judge); shown only when it scored this run.
    Raises FileNotFoundError when `results_dir/metrics.json` is missing; every other input is optional.
    """
    results_dir, report_path, figures_dir = Path(results_dir), Path(report_path), Path(figures_dir)
    metrics = data.load_metrics(results_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    _clear(figures_dir, FIGURE_FILES.values())
    curves = data.rl_curves(results_dir, metrics)
    frontier = data.load_frontier(results_dir)
    ctx = Context(
        metrics=metrics,
        results_dir=results_dir,
        report_dir=report_path.parent,
        figures_dir=figures_dir,
        dpi=dpi,
        n_samples_shown=n_samples_shown,
        curves=curves,
        frontier=frontier,
        peaks=stored_peaks(curves, metrics),
    )
    study_file = Path(study_dir) / "seeds.json" if study_dir is not None else None
    study = data.read_json(study_file) if study_file is not None and study_file.is_file() else None
    if study_covers(study, metrics):
        ctx.study, ctx.study_dir = study, Path(study_dir)
    if agreement_file is not None:
        ctx.agreement_file = Path(agreement_file)
        ctx.agreement, ctx.agreement_status = data.load_agreement(ctx.agreement_file, results_dir)
    appendix = Path(appendix_path) if appendix_path is not None else None
    bodies = {
        "summary": summary_section(ctx),
        "finding": finding_section(ctx),
        "seeds": seeds_section(ctx),
        "gold_parts": gold_parts_section(ctx),
        "agreement": agreement_section(ctx),
        "frontier": frontier_section(ctx),
        "methods": methods_section(ctx),
        "tuning": tuning_section(*_tuning_inputs(ctx, tuning_dir)),
        "reward_model": reward_model_section(ctx, data.load_calibration(results_dir), data.load_scores(results_dir)),
        "gold": gold_section(ctx),
        "diversity": diversity_section(ctx),
        "curves": curves_section(ctx),
        "provenance": provenance_section(ctx, git_info(Path(repo_dir) if repo_dir is not None else Path.cwd()), appendix),
    }
    text = "# rlhf-bench report\n\n" + "\n\n".join(f"## {SECTION_TITLES[k]}\n\n{body}" for k, body in bodies.items()) + "\n"
    if appendix is not None:
        _write_atomic(appendix, render_appendix(ctx, n_samples_shown))
    if plots_dir is not None:
        _clear(Path(plots_dir), PLOT_FILES + STALE_PLOT_FILES)
        write_plot_data(ctx, Path(plots_dir))
    _write_atomic(report_path, text)
    log.info("report: wrote %s and figures in %s", report_path, figures_dir)
    return report_path

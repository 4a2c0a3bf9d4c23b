"""Render REPORT.md and its figures from a results folder.

    from reports.render import render_report
    render_report("results", "REPORT.md", "reports/figures", "params.yaml", "dvc.lock")

Reads only saved results (see `reports.data`); optional inputs that are missing
show as "not available". Figures are linked relative to the report's folder.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

from reports import data
from reports.provenance import git_info
from reports.sections import (
    FIGURE_FILES,
    SECTION_TITLES,
    Context,
    code,
    curves_section,
    diversity_section,
    frontier_section,
    provenance_section,
    reward_model_section,
    samples_section,
    summary_section,
)
from reports.tables import fmt

log = logging.getLogger("rlhf_bench.reports")


def _write_atomic(path: Path, text: str) -> None:
    # a half-written report must never replace a good one
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _clear_figures(figures_dir: Path) -> None:
    # stale figures from an earlier run must not look current; only our own file names are removed
    for name in FIGURE_FILES.values():
        (figures_dir / name).unlink(missing_ok=True)


def _header(metrics: dict, results_dir: Path) -> str:
    run = data.get(metrics, "run") or {}
    return (
        "# rlhf-bench report\n\n"
        "A policy tuned with PPO against a *proxy* reward model (trained on noisy preference labels), scored by a *gold* scorer; "
        f"generated from {code(results_dir.as_posix())} (seed {fmt(run.get('seed'))}). Every number below is read from the saved results."
    )


def render_report(
    results_dir: str | Path,
    report_path: str | Path,
    figures_dir: str | Path,
    params_path: str | Path | None,
    lock_path: str | Path | None,
    n_samples_shown: int = 5,
    dpi: int = 110,
    *,
    repo_dir: str | Path | None = None,
) -> Path:
    """Write the Markdown report to `report_path` and its PNG figures into `figures_dir`; return the report path.

    `repo_dir` is the git repository queried for the revision (default: the folder of `params_path`, else the cwd).
    Raises FileNotFoundError when `results_dir/metrics.json` is missing; every other input is optional.
    """
    results_dir, report_path, figures_dir = Path(results_dir), Path(report_path), Path(figures_dir)
    params_path = Path(params_path) if params_path is not None else None
    metrics = data.load_metrics(results_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    _clear_figures(figures_dir)
    ctx = Context(metrics=metrics, results_dir=results_dir, report_dir=report_path.parent, figures_dir=figures_dir, dpi=dpi)
    if repo_dir is None:
        repo_dir = params_path.parent if params_path is not None else Path.cwd()
    params_text = params_path.read_text(encoding="utf-8") if params_path is not None and params_path.is_file() else None
    bodies = {
        "summary": summary_section(ctx),
        "frontier": frontier_section(ctx, data.load_frontier(results_dir)),
        "reward_model": reward_model_section(ctx, data.load_calibration(results_dir), data.load_scores(results_dir)),
        "curves": curves_section(ctx, data.load_curves(results_dir)),
        "diversity": diversity_section(ctx),
        "samples": samples_section(data.load_samples(results_dir), n_samples_shown),
        "provenance": provenance_section(
            metrics, git_info(Path(repo_dir)), data.load_yaml(Path(lock_path) if lock_path else None), params_text
        ),
    }
    text = (
        _header(metrics, results_dir)
        + "\n\n"
        + "\n\n".join(f"## {SECTION_TITLES[k]}\n\n{body}" for k, body in bodies.items())
        + "\n"
    )
    _write_atomic(report_path, text)
    log.info("report: wrote %s and figures in %s", report_path, figures_dir)
    return report_path

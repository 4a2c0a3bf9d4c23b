"""Stage report: render REPORT.md, reports/appendix.md, reports/figures/ and reports/plots/ (the data of `dvc plots`)
from saved results only (never trains or samples). The seed study in reports/study/ (`make seeds`) is cited when one of
its runs is this run; the learning-rate tuning record in reports/tuning/ (`make tune`) is cited in its own section, and
the independent judge's record bench/results/gold_agreement.json (`python -m bench.gold_agreement`) when it scored this run.

    python -m stages.report           # reads params.yaml: report
"""

from __future__ import annotations

from pipeline.config import load_params
from pipeline.io import stage_timer
from pipeline.stage import run_stage
from reporting.render import render_report


def main() -> None:
    cfg = load_params().report
    with stage_timer("report", write=False):
        render_report(
            "results",
            "REPORT.md",
            "reports/figures",
            appendix_path="reports/appendix.md",
            plots_dir="reports/plots",
            n_samples_shown=cfg.n_samples_shown,
            dpi=cfg.figure_dpi,
            study_dir="reports/study",
            tuning_dir="reports/tuning",
            agreement_file="bench/results/gold_agreement.json",
        )


if __name__ == "__main__":
    run_stage(main)

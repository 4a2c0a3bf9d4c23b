"""What the evaluation reads from each RL curve's stage: its held-out points (eval.csv), its metrics.json and the
samples behind its points (eval_samples.jsonl), for every curve the params run."""

from __future__ import annotations

import pandas as pd

from metrics.peak_stats import curve_peak_selection
from pipeline.config import curve_name, curve_results_dir, rl_curves
from pipeline.io import read_json, read_jsonl


def load_curves(params) -> list[tuple[str, str, float, pd.DataFrame]]:
    """(method, curve policy name, KL knob, eval points) of every RL curve the pipeline ran."""
    return [(m, curve_name(m, k), k, pd.read_csv(curve_results_dir(m, k) / "eval.csv")) for m, k in rl_curves(params)]


def curve_summaries(params) -> dict[str, dict]:
    """{curve name: its stage's metrics.json + method, knob and results folder} (the report finds each curve's files here)."""
    return {
        curve_name(m, k): {"method": m, "knob": k, "folder": curve_results_dir(m, k).as_posix()}
        | read_json(curve_results_dir(m, k) / "metrics.json")
        for m, k in rl_curves(params)
    }


def peak_selection(params, boot: dict) -> dict[str, dict | None]:
    """{curve name: selection-aware peak location and drop (metrics.peak_stats)} from each curve's evaluation samples."""
    return {
        curve_name(m, k): curve_peak_selection(read_jsonl(curve_results_dir(m, k) / "eval_samples.jsonl"), **boot)
        for m, k in rl_curves(params)
    }

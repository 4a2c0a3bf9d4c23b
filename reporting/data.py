"""Loaders for what the pipeline writes under `results/`; every optional input gives None (or an empty value) when missing.

The report reads only these files: it never trains, samples or scores.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

log = logging.getLogger("rlhf_bench.reporting")

# the stages that write results/<stage>/timing.json, in pipeline order (each PPO curve has its own, under ppo/kl<beta>/)
STAGE_ORDER = ("prepare", "base_policy", "preferences", "reward_model", "ppo", "generate", "evaluate")


def get(obj: Any, *keys: str) -> Any:
    """Nested lookup `obj[k1][k2]...` that returns None when any level is missing or not a dict."""
    for key in keys:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def as_float(value: Any) -> float | None:
    """A finite float, or None for null / NaN / non-numbers."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def read_json(path: Path) -> Any:
    """A JSON file's content, or None when it is missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def metrics_digest(results_dir: Path) -> str | None:
    """The digest of a run's metrics.json (every metric of a run is in it, no timings): names the run a benchmark scored
    (bench/gold_agreement.py), so the report cites a benchmark file only while it describes this run."""
    from pipeline.io import tree_digest

    path = Path(results_dir) / "metrics.json"
    return tree_digest(path) if path.is_file() else None


def load_agreement(path: Path, results_dir: Path) -> tuple[dict[str, Any] | None, str]:
    """bench/gold_agreement.py's record and its standing: (record, "this run") when it scored this run, else
    (None, "another run" | "unnamed" | "missing")."""
    record = read_json(path) if path.is_file() else None
    if not isinstance(record, dict):
        return None, "missing"
    if not record.get("run_metrics_sha256"):
        return None, "unnamed"
    return (record, "this run") if record["run_metrics_sha256"] == metrics_digest(results_dir) else (None, "another run")


def load_metrics(results_dir: Path) -> dict[str, Any]:
    """Read `metrics.json` (required: without it there is nothing to report), with `metric_info.json` under "metric_info"."""
    path = results_dir / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run the evaluate stage first (dvc repro evaluate)")
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object at the top level")
    info = read_json(results_dir / "metric_info.json")
    return data | {"metric_info": info if isinstance(info, dict) else {}}


# ---------------------------------------------------------------- RL curves
@dataclass(frozen=True)
class Curve:
    """One RL curve: its policy name in metrics.json (ppo_kl0p03), method, KL knob (kl_coef) and results folder."""

    name: str
    kl_coef: float | None
    folder: Path
    method: str = "ppo"


def rl_curves(results_dir: Path, metrics: dict[str, Any]) -> list[Curve]:
    """The RL curves of metrics.json's `curves` section, by method then increasing KL knob.

    Each entry names its folder relative to the run (results/curves/<method>/kl<knob>); it is
    looked up under `results_dir`'s parent, so a copied results folder still resolves.
    """
    curves = []
    for name, info in (get(metrics, "curves") or {}).items():
        if not isinstance(info, dict):
            continue
        folder = Path(str(info.get("folder", "")))
        folder = (
            results_dir / folder.relative_to("results")
            if folder.parts[:1] == ("results",)
            else results_dir / "curves" / str(info.get("method")) / folder.name
        )
        curves.append(Curve(str(name), as_float(info.get("knob")), folder, str(info.get("method", "ppo"))))
    return sorted(curves, key=lambda c: (c.method, c.kl_coef is None, c.kl_coef or 0.0, c.name))


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame | None:
    if not path.is_file():
        log.info("report: %s not found, part skipped", path)
        return None
    try:
        df = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        log.warning("report: %s is not a CSV table, ignored", path)
        return None
    missing = [c for c in required if c not in df.columns]
    if missing:
        log.warning("report: %s lacks columns %s, ignored", path, missing)
        return None
    return df if len(df) else None


def load_eval(curve: Curve) -> pd.DataFrame | None:
    """A curve's held-out evaluation points (`eval.csv`: update, <metric>, <metric>_ci_low, <metric>_ci_high), by update."""
    df = _read_csv(curve.folder / "eval.csv", ("update",))
    return None if df is None else df.apply(pd.to_numeric, errors="coerce").sort_values("update").reset_index(drop=True)


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    """A JSON-lines file as a list of objects (missing file: empty; blank and corrupt lines skipped with a warning)."""
    if not path.is_file():
        return []
    records = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            log.warning("report: %s line %d is not JSON, skipped", path, i)
            continue
        if isinstance(rec, dict):
            records.append(rec)
    return records


def load_frontier(results_dir: Path) -> pd.DataFrame | None:
    """`frontier.csv` (columns of metrics.frontier.COLUMNS): one row per (method, curve, point)."""
    df = _read_csv(results_dir / "frontier.csv", ("method", "curve", "kl", "gold_reward"))
    if df is None:
        return None
    for col in df.columns:
        if col not in ("method", "curve", "label"):
            df[col] = pd.to_numeric(df[col], errors="coerce")
    for col in ("method", "curve", "label"):
        df[col] = df[col].fillna("").astype(str) if col in df.columns else ""
    if "proxy_reward" not in df.columns:
        df["proxy_reward"] = float("nan")
    # sqrt_kl is a function of kl (tiny negative k1 estimates clip to 0)
    sqrt_kl = df["sqrt_kl"] if "sqrt_kl" in df.columns else pd.Series(float("nan"), index=df.index)
    df["sqrt_kl"] = sqrt_kl.fillna(df["kl"].clip(lower=0) ** 0.5)
    return df


def load_calibration(results_dir: Path) -> pd.DataFrame | None:
    """`reward_model/calibration.csv`: bin_low, bin_high, predicted, observed, count."""
    return _read_csv(results_dir / "reward_model" / "calibration.csv", ("predicted", "observed"))


def load_scores(results_dir: Path) -> pd.DataFrame | None:
    """`reward_model/scores.csv`: proxy, gold (held-out samples)."""
    return _read_csv(results_dir / "reward_model" / "scores.csv", ("proxy", "gold"))


# ---------------------------------------------------------------- DVCLive curves
def read_tsv(path: Path) -> pd.DataFrame | None:
    """One DVCLive curve as columns step and value (the file's last column); None when missing, empty or malformed."""
    try:
        df = pd.read_csv(path, sep="\t")
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return None
    if "step" not in df.columns or len(df.columns) < 2 or not len(df):
        return None
    out = pd.DataFrame(
        {"step": pd.to_numeric(df["step"], errors="coerce"), "value": pd.to_numeric(df[df.columns[-1]], errors="coerce")}
    )
    out = out.dropna()
    return out if len(out) else None


def live_curve(live_dir: Path, name: str) -> pd.DataFrame | None:
    """The DVCLive curve `name` ("loss", "objective/kl") of a live folder."""
    return read_tsv(live_dir / "plots" / "metrics" / f"{name}.tsv")


def logging_steps(live_dir: Path) -> int | None:
    """The HF Trainer's `logging_steps` recorded in a DVCLive folder's params.yaml: the optimizer updates between two logged points."""
    try:
        params = yaml.safe_load((live_dir / "params.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    value = get(params, "logging_steps")
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def trainer_loss(live_dir: Path) -> tuple[pd.DataFrame, bool] | None:
    """The per-step training loss of a Trainer run (`loss.tsv`, not the one-row `train/loss.tsv` summary), x in optimizer updates.

    DVCLive's HF callback advances its step once per log event, so log i is optimizer update (i + 1) * logging_steps;
    returns (frame, True) with that conversion, or (frame, False) with raw log steps when logging_steps is unknown.
    """
    df = live_curve(live_dir, "loss")
    if df is None:
        return None
    every = logging_steps(live_dir)
    if every is None:
        return df, False
    return df.assign(step=(df["step"] + 1) * every), True


# ---------------------------------------------------------------- wall times
def curve_timing(curve: Curve) -> dict[str, Any] | None:
    """A curve stage's timing.json (wall_s and its phases), None when missing or unreadable."""
    timing = read_json(curve.folder / "timing.json")
    return timing if isinstance(timing, dict) else None


def wall_times(results_dir: Path, curves: list[Curve]) -> list[tuple[str, float | None]]:
    """(stage, wall seconds) from each results/<stage>/timing.json, pipeline order, each PPO curve (ppo@<beta>) in place of ppo."""
    rows: list[tuple[str, float | None]] = []
    for stage in STAGE_ORDER:
        if stage == "ppo":
            for curve in curves:
                if (timing := curve_timing(curve)) is not None:
                    stage_name = f"{curve.method}@{curve.kl_coef:g}" if curve.kl_coef is not None else curve.name
                    rows.append((stage_name, as_float(timing.get("wall_s"))))
            continue
        timing = read_json(results_dir / stage / "timing.json")
        if isinstance(timing, dict):
            rows.append((stage, as_float(timing.get("wall_s"))))
    return rows

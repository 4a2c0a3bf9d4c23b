"""Loaders for what the pipeline writes under `results/`; every optional input gives None when missing.

The report reads only these files: it never trains, samples or scores.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

log = logging.getLogger("rlhf_bench.reports")

# dvclive folders, by stage, relative to results_dir
LIVE_DIRS = {
    "base_policy": Path("base_policy/live/plots/metrics"),
    "reward_model": Path("reward_model/live/plots/metrics"),
    "ppo": Path("ppo/live/plots/metrics"),
}


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


def load_metrics(results_dir: Path) -> dict[str, Any]:
    """Read `metrics.json` (required: without it there is nothing to report)."""
    path = results_dir / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run the evaluate stage first (dvc repro evaluate)")
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object at the top level")
    info = results_dir / "metric_info.json"
    if info.is_file():
        data = data | {"metric_info": json.loads(info.read_text())}
    return data | load_timings(results_dir, data)


def load_timings(results_dir: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """Merge each stage's `<stage>/timing.json` (kept out of metrics.json so metrics stay byte-identical)."""
    merged = {}
    for timing in sorted(results_dir.glob("*/timing.json")):
        stage = timing.parent.name
        section = metrics.get(stage) if isinstance(metrics.get(stage), dict) else {}
        merged[stage] = section | json.loads(timing.read_text())
    return merged


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame | None:
    if not path.is_file():
        log.info("report: %s not found, section skipped", path)
        return None
    df = pd.read_csv(path)
    missing = [c for c in required if c not in df.columns]
    if missing:
        log.warning("report: %s lacks columns %s, ignored", path, missing)
        return None
    return df if len(df) else None


def load_frontier(results_dir: Path) -> pd.DataFrame | None:
    """`frontier.csv`: method, label, kl, sqrt_kl, gold_reward, proxy_reward, gold_ci_low, gold_ci_high."""
    df = _read_csv(results_dir / "frontier.csv", ("method", "kl", "gold_reward"))
    if df is None:
        return None
    for col in ("kl", "sqrt_kl", "gold_reward", "proxy_reward", "gold_ci_low", "gold_ci_high"):
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df.columns else float("nan")
    # sqrt_kl may be absent or empty; it is a function of kl (tiny negative kl estimates clip to 0)
    df["sqrt_kl"] = df["sqrt_kl"].fillna(df["kl"].clip(lower=0) ** 0.5)
    df["label"] = df["label"].fillna("").astype(str) if "label" in df.columns else ""
    return df


def load_calibration(results_dir: Path) -> pd.DataFrame | None:
    """`reward_model/calibration.csv`: bin_low, bin_high, predicted, observed, count."""
    return _read_csv(results_dir / "reward_model" / "calibration.csv", ("predicted", "observed"))


def load_scores(results_dir: Path) -> pd.DataFrame | None:
    """`reward_model/scores.csv`: proxy, gold (held-out samples)."""
    return _read_csv(results_dir / "reward_model" / "scores.csv", ("proxy", "gold"))


def load_samples(results_dir: Path) -> list[dict[str, Any]] | None:
    """`samples.jsonl` as a list of records (blank and corrupt lines skipped with a warning)."""
    path = results_dir / "samples.jsonl"
    if not path.is_file():
        return None
    records = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("report: %s line %d is not JSON, skipped", path, i)
    return records or None


def _read_tsv(path: Path) -> pd.DataFrame | None:
    """One dvclive curve: columns step and value (the file's last column)."""
    try:
        df = pd.read_csv(path, sep="\t")
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return None
    if "step" not in df.columns or len(df.columns) < 2 or not len(df):
        return None
    value = df.columns[-1]
    out = pd.DataFrame({"step": pd.to_numeric(df["step"], errors="coerce"), "value": pd.to_numeric(df[value], errors="coerce")})
    return out.dropna()


def load_curves(results_dir: Path) -> dict[str, dict[str, pd.DataFrame]]:
    """Dvclive curves per stage: {stage: {"objective/kl": DataFrame(step, value)}}; missing stages are absent."""
    curves: dict[str, dict[str, pd.DataFrame]] = {}
    for stage, rel in LIVE_DIRS.items():
        root = results_dir / rel
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.tsv")):
            df = _read_tsv(path)
            if df is not None and len(df):
                name = path.relative_to(root).with_suffix("").as_posix()
                curves.setdefault(stage, {})[name] = df
    return curves


def load_yaml(path: Path | None) -> Any:
    """A YAML file's content, or None when the path is None or missing."""
    if path is None or not Path(path).is_file():
        return None
    return yaml.safe_load(Path(path).read_text())

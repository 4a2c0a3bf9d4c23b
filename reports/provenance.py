"""Audit data for the report: git revision and dirty flag, dvc.lock hashes, per-stage wall time."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reports.data import as_float, get

# pipeline order; any other metrics section with a wall_s is listed after these
STAGE_ORDER = ("prepare", "base_policy", "preferences", "reward_model", "ppo", "generate", "evaluate", "report")
# keys under which dvc.lock stores a hash value (dvc 3 writes `hash: md5` and the value under `md5`)
HASH_KEYS = ("md5", "sha256", "etag", "checksum", "version_id")


@dataclass(frozen=True)
class GitInfo:
    """The repository's HEAD revision and whether the working tree has uncommitted changes."""

    rev: str
    dirty: bool


# written by the run itself (dvc.lock after every stage, results, the report): not "uncommitted code"
PIPELINE_OUTPUTS = ("dvc.lock", "results", "REPORT.md", "reports/figures")


def _git(repo_dir: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(repo_dir), *args], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        # no git binary, or it hung
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_info(repo_dir: Path) -> GitInfo | None:
    """HEAD and dirty flag of the git repository containing `repo_dir`; None without git or outside a repository."""
    rev = _git(repo_dir, "rev-parse", "HEAD")
    if rev is None or not rev.strip():
        return None
    status = _git(repo_dir, "status", "--porcelain", "--untracked-files=no", "--", ".", *(f":(exclude){p}" for p in PIPELINE_OUTPUTS))
    return GitInfo(rev=rev.strip(), dirty=bool(status and status.strip()))


def _hash_of(entry: Mapping[str, Any]) -> str:
    for key in HASH_KEYS:
        if entry.get(key):
            return f"{key}:{entry[key]}"
    return "n/a"


def lock_rows(lock: Any) -> list[tuple[str, str, str, str, str]]:
    """(stage, kind, path, hash, size) for every dep and out of every stage in a parsed dvc.lock."""
    rows: list[tuple[str, str, str, str, str]] = []
    stages = get(lock, "stages") or {}
    for stage, spec in stages.items():
        for kind in ("deps", "outs"):
            for entry in (spec or {}).get(kind) or []:
                if not isinstance(entry, dict):
                    continue
                size = entry.get("size")
                rows.append(
                    (
                        str(stage),
                        kind[:-1],
                        str(entry.get("path", "?")),
                        _hash_of(entry),
                        str(size) if size is not None else "n/a",
                    )
                )
    return rows


def wall_times(metrics: Mapping[str, Any]) -> list[tuple[str, float | None]]:
    """(stage, wall seconds) for every metrics section with a `wall_s`, pipeline stages first."""
    sections = [s for s in STAGE_ORDER if isinstance(metrics.get(s), dict)]
    sections += sorted(s for s, v in metrics.items() if s not in STAGE_ORDER and isinstance(v, dict) and "wall_s" in v)
    return [(s, as_float(metrics[s].get("wall_s"))) for s in sections if "wall_s" in metrics[s]]

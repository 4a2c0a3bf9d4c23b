"""Which code and params produced the run: the git revision, and the code/params edits not yet committed.

In the usual workflow (edit -> dvc repro -> git commit) the report is rendered before the commit
that will hold it, so "uncommitted" is the normal state and not an alarm: the report names the
revision the run started from and the code/params files edited on top of it, which the commit
of this report then contains. Outputs of the run itself (dvc.lock, results, the report) are not
"code or params" and never count.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

# what defines a run: the code and the params (paths relative to the repository root)
CODE_AND_PARAMS = (
    "pipeline",
    "rl",
    "metrics",
    "reporting",
    "stages",
    "params.yaml",
    "dvc.yaml",
    "profiles",
    "pyproject.toml",
    "constraints.txt",
)


@dataclass(frozen=True)
class GitInfo:
    """The HEAD revision, the date of that commit, and the code/params files that differ from it."""

    rev: str
    date: str
    edited: tuple[str, ...]

    @property
    def dirty(self) -> bool:
        return bool(self.edited)


def _git(repo_dir: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(repo_dir), *args], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        # no git binary, or it hung
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_info(repo_dir: Path) -> GitInfo | None:
    """HEAD, its commit date and the edited code/params files of the repository at `repo_dir`; None without git or a repository."""
    rev = _git(repo_dir, "rev-parse", "HEAD")
    if rev is None or not rev.strip():
        return None
    top = (_git(repo_dir, "rev-parse", "--show-toplevel") or "").strip()
    root = Path(top) if top else Path(repo_dir)
    date = (_git(repo_dir, "log", "-1", "--format=%cs", "HEAD") or "").strip()
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *CODE_AND_PARAMS) or ""
    edited = tuple(sorted({line[3:].split(" -> ")[-1].strip() for line in status.splitlines() if len(line) > 3}))
    return GitInfo(rev=rev.strip(), date=date, edited=edited)

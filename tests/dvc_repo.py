"""Helpers for end-to-end tests: a throwaway git + DVC copy of this repository running the tiny profile."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def env() -> dict:
    e = dict(os.environ)
    e["PATH"] = f"{BIN}:{e.get('PATH', '')}"
    e |= {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "DVC_NO_ANALYTICS": "1"}
    e.pop("PYTHONPATH", None)
    return e


def sh(cwd: Path, *args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def dvc(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return sh(cwd, str(BIN / "dvc"), *args, check=check)


def project_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [f for f in out.splitlines() if (ROOT / f).is_file()]


def make_repo(dest: Path, profile: str = "tiny") -> Path:
    """Copy the project's source (no data, models or results) into a fresh git repo on the given profile."""
    skip = (
        "data/",
        "models/",
        "outputs/",
        "results/",
        "checkpoints/",
        "reports/figures/",
        "reports/plots/",
        "reports/appendix.md",
        "REPORT.md",
        "dvc.lock",
        "tests/fixtures/",
    )
    for rel in project_files():
        if rel.startswith(skip):
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
    sh(dest, "git", "init", "-q", "-b", "main")
    sh(dest, sys.executable, "-m", "pipeline.profiles", profile)
    commit(dest, "tiny profile")
    return dest


def commit(repo: Path, message: str) -> None:
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", message, "--allow-empty")


def restore_head(repo: Path) -> None:
    """Workspace back to the last commit: tracked files, untracked leftovers and DVC outputs (from the cache)."""
    sh(repo, "git", "reset", "--hard", "-q")
    sh(repo, "git", "clean", "-fdq")
    dvc(repo, "checkout", "--force")


def ran_stages(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")]


def repro_killed_when(repo: Path, ready, timeout: float, what: str, *args: str):
    """Start `dvc repro *args` and SIGKILL its whole process group as soon as `ready()` returns something truthy.

    Returns that value; fails naming `what` if the run ends, or `timeout` seconds pass, first.
    """
    proc = subprocess.Popen(
        [str(BIN / "dvc"), "repro", *args],
        cwd=repo,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while not (found := ready()):
        assert proc.poll() is None and time.monotonic() < deadline, f"dvc repro ended or stalled before {what}"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return found


def repro_killed_after(repo: Path, seconds: float, *args: str) -> bool:
    """Start `dvc repro`, SIGKILL its whole process group after `seconds`; return True if it was still running."""
    proc = subprocess.Popen(
        [str(BIN / "dvc"), "repro", *args],
        cwd=repo,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def set_param(repo: Path, dotted: str, value) -> None:
    import yaml

    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    node = params
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))

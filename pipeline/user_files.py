"""User-supplied files and model directories must be DVC dependencies of the stage that reads them.

DVC reruns a stage only when a declared dependency changes, and `dvc exp run --queue` copies only
git- or DVC-tracked files into its temporary workspace. A corpus, preference file or model directory
outside the stage's deps would go stale silently, so it is refused with the fix, before any work.
dvc.yaml gives each such stage an `inputs/<kind>` folder; any other declared dep counts too.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from pipeline.errors import ConfigError

DVC_FILE = Path("dvc.yaml")


def stage_deps(stage: str) -> list[str]:
    """The data deps (not code) that dvc.yaml declares for `stage`, as written there."""
    stages = yaml.safe_load(DVC_FILE.read_text()).get("stages") or {}
    deps = (stages.get(stage) or {}).get("deps") or []
    return [d for d in (d if isinstance(d, str) else next(iter(d)) for d in deps) if not d.endswith(".py")]


def require_dependency(path: str | Path, field: str, stage: str) -> None:
    """Refuse a user path that lies outside every dep of `stage`; a stage run outside a DVC project
    (no dvc.yaml here) has nothing to keep in sync and is not checked."""
    if not DVC_FILE.is_file():
        return
    rel = os.path.normpath(os.path.relpath(Path(path).expanduser().absolute()))
    deps = stage_deps(stage)
    if any(rel == os.path.normpath(d) or rel.startswith(os.path.normpath(d) + os.sep) for d in deps):
        return
    folder = next((d for d in deps if d.startswith("inputs/")), None)
    move = f"move it under {folder}/ and `git add` (or `dvc add`) it, or " if folder else ""
    raise ConfigError(
        f"{field}: {path} is not a DVC dependency of stage {stage!r}, so DVC would not rerun it when the file "
        f"changes; {move}add the path to that stage's deps in dvc.yaml"
    )

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


# the inputs/ folder README gives each user path; a stage reading several kinds (prepare) must name the right one
INPUT_FOLDERS = {
    "data.path": "inputs/corpus",
    "preferences.path": "inputs/preferences",
    "policy.base": "inputs/base",
    "reward_model.backbone": "inputs/backbone",
    "generate.extra_policies": "inputs/policies",
}


def input_folder(field: str, deps: list[str]) -> str | None:
    """The inputs/ folder a user path for `field` belongs in: README's for the param, else the stage's first one."""
    own = (folder for key, folder in INPUT_FOLDERS.items() if field == key or field.startswith(key + "."))
    return next(own, None) or next((d for d in deps if d.startswith("inputs/")), None)


def require_dependency(path: str | Path, field: str, stage: str) -> None:
    """Refuse a user path that lies outside every dep of `stage`; a stage run outside a DVC project
    (no dvc.yaml here) has nothing to keep in sync and is not checked.

    The path is resolved with symlinks followed: DVC hashes a symlink inside a dep, not the files it points
    to, so a link to a folder outside the repository would let that folder change unseen."""
    if not DVC_FILE.is_file():
        return
    deps = stage_deps(stage)
    folder = input_folder(field, deps)
    real, root = Path(path).expanduser().resolve(), Path.cwd().resolve()
    if not real.is_relative_to(root):
        where = f"copy it under {folder}/ and `git add` (or `dvc add`) it" if folder else "copy it into the repository"
        raise ConfigError(
            f"{field}: {path} is outside the repository (it resolves to {real}), where DVC cannot see it change; {where}"
        )
    rel = os.path.normpath(real.relative_to(root))
    if any(rel == os.path.normpath(d) or rel.startswith(os.path.normpath(d) + os.sep) for d in deps):
        return
    move = f"move it under {folder}/ and `git add` (or `dvc add`) it, or " if folder else ""
    raise ConfigError(
        f"{field}: {path} is not a DVC dependency of stage {stage!r}, so DVC would not rerun it when the file "
        f"changes; {move}add the path to that stage's deps in dvc.yaml"
    )

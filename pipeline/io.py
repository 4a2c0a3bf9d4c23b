"""Atomic outputs, jsonl/json helpers, the run manifest and stage timing.

Every stage writes each output into a temporary sibling and renames it into
place only on success, so an interrupted stage never leaves a partial output
that DVC could record.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import math
import os
import platform
import shutil
import sys
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger("rlhf_bench")

MANIFEST_NAME = "rlhf_bench_manifest.json"
TRACKED_PACKAGES = (
    "torch",
    "transformers",
    "trl",
    "accelerate",
    "tokenizers",
    "datasets",
    "dvc",
    "dvclive",
    "vaderSentiment",
    "numpy",
    "pandas",
)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path; on success it replaces `path`, on error it is removed.

    Works for files and directories. The old output is removed only once the new one is complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"atomic_output: nothing was written for {path}")
        old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
        if path.exists() or path.is_symlink():
            os.replace(path, old)
        os.replace(tmp, path)
        _remove(old)
    finally:
        if tmp.exists():
            _remove(tmp)


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a multi-process launch (torchrun / accelerate launch)."""
    return os.environ.get("RANK", "0") == "0"


def remove_outputs(*paths: str | Path) -> None:
    """Delete stale outputs before a stage starts, so a failure cannot leave last run's files looking current."""
    if not is_main_process():
        return
    for p in paths:
        _remove(Path(p))


def clear_checkpoints(ckpt_dir: str | Path) -> None:
    """Delete a stage's checkpoint directory once its run has finished: checkpoints exist only to resume an interrupted run.

    They are not DVC outputs (git-ignored, under checkpoints/), so a queued experiment's fresh workspace, which has
    none, still finds its upstream stages up to date and skips them.
    """
    _remove(Path(ckpt_dir))


def tree_digest(path: str | Path) -> str:
    """sha256 of a file, or of a directory's relative file names, sizes and bytes in sorted order.

    Identifies an input by content alone (no timestamps), so a resumed run can tell that an
    upstream model or data set changed even when every param is the same.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: cannot hash a missing input")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.relative_to(path).as_posix()}\0{file.stat().st_size}\0".encode())
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _finite(obj):
    # JSON has no NaN/Inf; write null so every consumer (dvc metrics, pandas) can read the file
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def dumps(obj) -> str:
    return json.dumps(_finite(obj), indent=2, sort_keys=True, default=_json_default) + "\n"


def write_json(path: str | Path, obj) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(dumps(obj))


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def write_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    with atomic_output(path) as tmp, tmp.open("w") as fh:
        for rec in records:
            fh.write(json.dumps(_finite(rec), default=_json_default, ensure_ascii=False) + "\n")


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a pipeline jsonl input; a missing one names the stage to run (one line, no traceback)."""
    path = Path(path)
    if not path.is_file():
        from pipeline.errors import ConfigError

        raise ConfigError(f"{path}: missing input; run `dvc repro` (or the stage that writes it) first")
    with path.open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def manifest(params_section: dict, seed: int, device: str, **extra) -> dict:
    """What produced an artefact: resolved config, seed, device, package versions."""
    return {"config": params_section, "seed": seed, "device": device, "packages": package_versions(), **extra}


class _KnownHarmless(logging.Filter):
    """Drops the KNOWN_HARMLESS notes. accelerate's "dataset had no length", logged by TRL's trainers on every run,
    is about a remainder that several processes would duplicate, and the TRL stages (reward model, DPO, RLOO, GRPO)
    run one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(note in record.getMessage() for note in KNOWN_HARMLESS)


KNOWN_HARMLESS = (
    "The used dataset had no length",
    # transformers' checkpoint rotation (pretraining) sorts by mtime, finds two checkpoints saved within a second
    # and falls back to sorting by step number, which is the right order: nothing to act on
    "mtime may not be reliable",
)


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    for name in ("accelerate.accelerator", "transformers.trainer_utils"):
        logging.getLogger(name).addFilter(_KnownHarmless())
    # raised inside TRL 1.16's trainers (it calls a transformers API deprecated in 5.x), not by this project's code
    warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)


@contextlib.contextmanager
def stage_timer(name: str, write: bool | None = None) -> Iterator[dict]:
    """Log the stage's wall time and write it (plus any timings the stage adds) to results/<name>/timing.json.

    Timings live apart from metrics so that metrics files are byte-identical across reruns.
    """
    timings: dict = {}
    start = time.perf_counter()
    log.info("stage %s: start", name)
    yield timings
    timings["wall_s"] = round(time.perf_counter() - start, 2)
    log.info("stage %s: done in %.1f s", name, timings["wall_s"])
    if is_main_process() if write is None else write:
        write_json(Path("results") / name / "timing.json", timings)


def write_csv(path: str | Path, frame) -> None:
    with atomic_output(path) as tmp:
        frame.to_csv(tmp, index=False)

"""PPO checkpoints: models as safetensors, optimizer state loaded with weights_only=True, loop state as JSON."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from pipeline.io import _json_default, atomic_output, log, read_json, tree_digest


def run_fingerprint(params, n_processes: int, kl_coef: float, inputs: tuple[Path, ...]) -> str:
    """A checkpoint resumes only a run with the same params (every section up to ppo), KL coefficient, process
    count and input content: `inputs` (models, prompts) are hashed once here, so a reward model retrained
    on changed code or data never resumes a policy trained against the old one."""
    relevant = params.model_dump(
        include={"seed", "data", "policy", "annotator", "preferences", "reward_model", "sampling", "ppo"}
    )
    digests = {Path(p).as_posix(): tree_digest(p) for p in inputs}
    blob = json.dumps({"params": relevant, "processes": n_processes, "kl_coef": kl_coef, "inputs": digests}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_checkpoint(trainer, ckpt_dir: Path, fingerprint: str) -> None:
    if not trainer.acc.is_main_process:
        return
    model = trainer.unwrapped
    with atomic_output(ckpt_dir) as tmp:
        tmp.mkdir()
        model.policy.save_pretrained(str(tmp / "policy"), safe_serialization=True)
        model.value_model.save_pretrained(str(tmp / "value"), safe_serialization=True)
        torch.save(trainer.optimizer.state_dict(), tmp / "optimizer.pt")
        (tmp / "state.json").write_text(state_json(trainer.state_dict()))
        (tmp / "fingerprint.txt").write_text(fingerprint)
    log.info("ppo: checkpoint at update %d", trainer.state.update)


def state_json(state: dict) -> str:
    """The loop state as JSON in its own key order (not dumps' sorted keys): the history rows and evaluation samples
    come back as they were, so a resumed run writes eval.csv columns and eval_samples.jsonl keys in the order of an
    uninterrupted one. NaN is kept as NaN (Python's JSON reads it back), where dumps would write null."""
    return json.dumps(state, default=_json_default) + "\n"


def recover_interrupted_save(ckpt_dir: Path) -> None:
    """Put back the checkpoint a kill between atomic_output's two renames left under a hidden name.

    The fingerprint is written last, so a sibling holding one is complete: the new one
    (.<name>.tmp-*) is preferred to the previous one (.<name>.old-*).
    """
    if ckpt_dir.exists():
        return
    for kind in ("tmp", "old"):
        complete = sorted(p for p in ckpt_dir.parent.glob(f".{ckpt_dir.name}.{kind}-*") if (p / "fingerprint.txt").is_file())
        if complete:
            complete[-1].rename(ckpt_dir)
            log.info("ppo: recovered the checkpoint of an interrupted save from %s", complete[-1].name)
            return


def load_checkpoint(trainer, ckpt_dir: Path, fingerprint: str) -> bool:
    """Restore models, optimizer and loop state if a checkpoint of this very run exists; drop stale ones.

    A checkpoint that fails to load (a truncated or corrupt file, a model it does not fit) is discarded with one
    logged line and the run starts fresh: otherwise every rerun would stop on the same error until the folder is
    deleted by hand. Every file is read and checked before any of it is applied, so a fresh start is really fresh.
    """
    recover_interrupted_save(ckpt_dir)
    stamp = ckpt_dir / "fingerprint.txt"
    if not stamp.exists():
        return False
    if stamp.read_text() != fingerprint:
        log.info("ppo: discarding checkpoint of a different run in %s", ckpt_dir)
        _discard(trainer, ckpt_dir)
        return False
    try:
        policy, value, optimizer, state = _read_checkpoint(trainer, ckpt_dir)
    except Exception as err:  # noqa: BLE001 - whatever makes a checkpoint unreadable, starting fresh is the remedy
        reason = (str(err).splitlines() or [""])[0][:300]
        log.warning(
            "ppo: checkpoint in %s failed to load (%s: %s); discarded, the run starts fresh", ckpt_dir, type(err).__name__, reason
        )
        _discard(trainer, ckpt_dir)
        return False
    model = trainer.unwrapped
    model.policy.load_state_dict(policy, strict=False)
    model.value_model.load_state_dict(value, strict=False)
    trainer.optimizer.load_state_dict(optimizer)
    trainer.load_state_dict(state)
    log.info("ppo: resumed from update %d", trainer.state.update)
    return True


def _discard(trainer, ckpt_dir: Path) -> None:
    if trainer.acc.is_main_process:
        shutil.rmtree(ckpt_dir, ignore_errors=True)


def _read_checkpoint(trainer, ckpt_dir: Path) -> tuple[dict, dict, dict, dict]:
    """Every part of a checkpoint, read into memory and checked against this trainer; raises on any mismatch."""
    model = trainer.unwrapped
    policy = _read_weights(model.policy, ckpt_dir / "policy" / "model.safetensors")
    value = _read_weights(model.value_model, ckpt_dir / "value" / "model.safetensors")
    optimizer = torch.load(ckpt_dir / "optimizer.pt", weights_only=True, map_location=trainer.acc.device)
    groups = [len(g["params"]) for g in optimizer["param_groups"]]
    if groups != [len(g["params"]) for g in trainer.optimizer.param_groups]:
        raise ValueError(f"optimizer.pt holds parameter groups of sizes {groups}, not this model's")
    state = read_json(ckpt_dir / "state.json")
    if not isinstance(state, dict) or set(state) != set(trainer.state_dict()):
        raise ValueError(f"state.json holds {sorted(state) if isinstance(state, dict) else type(state).__name__}")
    return policy, value, optimizer, state


def _read_weights(module: torch.nn.Module, path: Path) -> dict:
    """Safetensors weights that fit `module`: same names and shapes; only tied output embeddings (not stored) may be missing."""
    weights, expected = load_file(str(path)), module.state_dict()
    untied = [k for k in expected if k not in weights and not k.endswith("lm_head.weight")]
    unexpected = [k for k in weights if k not in expected]
    reshaped = [k for k in weights if k in expected and weights[k].shape != expected[k].shape]
    if unexpected or untied or reshaped:
        raise RuntimeError(
            f"{path} does not match the model (missing {untied[:3]}, unexpected {unexpected[:3]}, other shapes {reshaped[:3]})"
        )
    return weights


class CheckpointCallback:
    """Saves a resumable checkpoint every `every` updates (not at the last: the final model is the output)."""

    def __init__(self, ckpt_dir: Path, fingerprint: str, every: int):
        self.ckpt_dir, self.fingerprint, self.every = ckpt_dir, fingerprint, every

    def measure(self, trainer, update: int) -> dict:
        return {}

    def on_update_end(self, trainer, update: int) -> None:
        if update % self.every == 0 and update < trainer.cfg.total_updates:
            save_checkpoint(trainer, self.ckpt_dir, self.fingerprint)

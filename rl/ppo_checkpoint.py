"""PPO checkpoints: models as safetensors, optimizer state loaded with weights_only=True, loop state as JSON."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from pipeline.io import atomic_output, dumps, log, read_json, tree_digest


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
        (tmp / "state.json").write_text(dumps(trainer.state_dict()))
        (tmp / "fingerprint.txt").write_text(fingerprint)
    log.info("ppo: checkpoint at update %d", trainer.state.update)


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
    """Restore models, optimizer and loop state if a checkpoint of this very run exists; drop stale ones."""
    recover_interrupted_save(ckpt_dir)
    stamp = ckpt_dir / "fingerprint.txt"
    if not stamp.exists():
        return False
    if stamp.read_text() != fingerprint:
        log.info("ppo: discarding checkpoint of a different run in %s", ckpt_dir)
        if trainer.acc.is_main_process:
            shutil.rmtree(ckpt_dir)
        return False
    model = trainer.unwrapped
    _load_weights(model.policy, ckpt_dir / "policy" / "model.safetensors")
    _load_weights(model.value_model, ckpt_dir / "value" / "model.safetensors")
    trainer.optimizer.load_state_dict(torch.load(ckpt_dir / "optimizer.pt", weights_only=True, map_location=trainer.acc.device))
    trainer.load_state_dict(read_json(ckpt_dir / "state.json"))
    log.info("ppo: resumed from update %d", trainer.state.update)
    return True


def _load_weights(module: torch.nn.Module, path: Path) -> None:
    """Load safetensors weights; only tied output embeddings (not stored) may be missing."""
    missing, unexpected = module.load_state_dict(load_file(str(path)), strict=False)
    untied = [k for k in missing if not k.endswith("lm_head.weight")]
    if unexpected or untied:
        raise RuntimeError(
            f"checkpoint {path} does not match the model (missing {untied[:3]}, unexpected {unexpected[:3]}); delete checkpoints/ppo"
        )


class CheckpointCallback:
    """Saves a resumable checkpoint every `every` updates (not at the last: the final model is the output)."""

    def __init__(self, ckpt_dir: Path, fingerprint: str, every: int):
        self.ckpt_dir, self.fingerprint, self.every = ckpt_dir, fingerprint, every

    def measure(self, trainer, update: int) -> dict:
        return {}

    def on_update_end(self, trainer, update: int) -> None:
        if update % self.every == 0 and update < trainer.cfg.total_updates:
            save_checkpoint(trainer, self.ckpt_dir, self.fingerprint)

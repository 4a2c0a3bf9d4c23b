"""PPO checkpoints: models as safetensors, optimizer state loaded with weights_only=True, loop state as JSON."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from pipeline.io import atomic_output, dumps, log, read_json
from pipeline.ppo_trainer import PPOState


def run_fingerprint(params, n_processes: int) -> str:
    """A checkpoint resumes only a run with the same params (every section up to ppo) and process count."""
    relevant = params.model_dump(include={"seed", "data", "policy", "annotator", "preferences", "reward_model", "ppo"})
    blob = json.dumps({"params": relevant, "processes": n_processes}, sort_keys=True)
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
        state = trainer.state
        (tmp / "state.json").write_text(dumps({"update": state.update, "kl_coef": state.kl_coef, "episode": state.episode, "history": state.history}))
        (tmp / "fingerprint.txt").write_text(fingerprint)
    log.info("ppo: checkpoint at update %d", trainer.state.update)


def load_checkpoint(trainer, ckpt_dir: Path, fingerprint: str) -> bool:
    """Restore models, optimizer and loop state if a checkpoint of this very run exists; drop stale ones."""
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
    saved = read_json(ckpt_dir / "state.json")
    trainer.state = PPOState(update=saved["update"], kl_coef=saved["kl_coef"], episode=saved["episode"], history=saved["history"])
    trainer.kl_ctl.value = saved["kl_coef"]
    log.info("ppo: resumed from update %d", saved["update"])
    return True


def _load_weights(module: torch.nn.Module, path: Path) -> None:
    """Load safetensors weights; only tied output embeddings (not stored) may be missing."""
    missing, unexpected = module.load_state_dict(load_file(str(path)), strict=False)
    untied = [k for k in missing if not k.endswith("lm_head.weight")]
    if unexpected or untied:
        raise RuntimeError(f"checkpoint {path} does not match the model (missing {untied[:3]}, unexpected {unexpected[:3]}); delete checkpoints/ppo")

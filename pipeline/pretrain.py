"""Pretraining a small GPT-2 from scratch with the HF Trainer (packed blocks, fixed step count)."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import zipfile
from pathlib import Path

import torch
from dvclive import Live
from transformers import Trainer, TrainingArguments
from transformers.integrations import DVCLiveCallback

from pipeline.config import PolicyConfig
from pipeline.errors import finite_loss_callback
from pipeline.io import log, tree_digest
from pipeline.models import autocast_dtype, new_gpt2, quiet_trainer_logs, train_tokenizer


class PackedBlocks(torch.utils.data.Dataset):
    """Documents joined with EOS and cut into equal blocks (GPT-2 style packing, nothing padded)."""

    def __init__(self, texts: list[str], tokenizer, block_size: int):
        ids: list[int] = []
        for enc in tokenizer(texts, add_special_tokens=False)["input_ids"]:
            ids.extend(enc)
            ids.append(tokenizer.eos_token_id)
        n_blocks = len(ids) // block_size
        if n_blocks == 0:
            raise ValueError(f"corpus has {len(ids)} tokens, fewer than one block of {block_size}")
        self.blocks = torch.tensor(ids[: n_blocks * block_size]).view(n_blocks, block_size)  # (N, T)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.blocks[i], "labels": self.blocks[i]}


def config_fingerprint(cfg: PolicyConfig, seed: int, corpus_digest: str) -> str:
    """Identifies the run a checkpoint belongs to (params and corpus content), so neither a changed
    param nor a changed corpus of the same length ever resumes a stale checkpoint."""
    blob = json.dumps({"cfg": cfg.model_dump(), "seed": seed, "corpus": corpus_digest}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def prepare_checkpoint_dir(ckpt_dir: Path, fingerprint: str) -> bool:
    """Keep checkpoints only if they belong to this run and are complete; return whether one can be resumed."""
    stamp = ckpt_dir / "fingerprint.txt"
    if ckpt_dir.exists() and (not stamp.exists() or stamp.read_text() != fingerprint):
        shutil.rmtree(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    for folder in ckpt_dir.glob("checkpoint-*"):
        if not checkpoint_complete(folder):
            # a kill or full disk mid-save leaves a folder the Trainer would pick as the latest and
            # then refuse ("Can't find a valid checkpoint"); the previous complete one stays
            shutil.rmtree(folder)
        elif damage := damaged_file(folder):
            # complete once, damaged since (a truncated weights file): the Trainer would fail on it at every rerun
            log.warning("pretraining checkpoint %s failed to load (%s); discarded", folder, damage)
            shutil.rmtree(folder)
    return any(ckpt_dir.glob("checkpoint-*"))


def checkpoint_complete(folder: Path) -> bool:
    """The Trainer writes trainer_state.json last (after weights, optimizer, scheduler, RNG state), so a
    parseable one means every earlier file was written in full."""
    try:
        return isinstance(json.loads((folder / "trainer_state.json").read_text()).get("global_step"), int)
    except (OSError, ValueError, AttributeError):
        return False


def damaged_file(folder: Path) -> str | None:
    """What makes a checkpoint unloadable, cheaply: a safetensors file whose header does not cover the file, or a
    torch.save archive without its central directory (both what truncation leaves); None when both read."""
    from safetensors import safe_open

    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), "pt") as weights:
                weights.keys()
        except Exception as err:  # noqa: BLE001 - SafetensorError, or an OSError reading it
            return f"{path.name}: {type(err).__name__}: {err}"
    for path in sorted(folder.glob("*.pt")) + sorted(folder.glob("*.pth")):
        try:
            zipfile.ZipFile(path).close()
        except (zipfile.BadZipFile, OSError) as err:
            return f"{path.name}: {type(err).__name__}: {err}"
    return None


def training_args(cfg: PolicyConfig, seed: int, ckpt_dir: Path, use_cpu: bool, bf16: bool) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(ckpt_dir),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        learning_rate=cfg.lr,
        warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay,
        lr_scheduler_type="cosine",
        logging_steps=max(1, cfg.max_steps // 50),
        save_strategy="steps",
        save_steps=cfg.checkpoint_every,
        save_total_limit=1,
        seed=seed,
        data_seed=seed,
        use_cpu=use_cpu,
        bf16=bf16,
        report_to=[],
        dataloader_num_workers=0,
        disable_tqdm=False,
    )


def pretrain(model, tokenizer, train: PackedBlocks, args: TrainingArguments, callbacks: list, resume: bool) -> dict:
    """Train for args.max_steps; returns the final logged loss, which (unlike the Trainer's running
    average) is the same whether or not the run was resumed from a checkpoint."""
    trainer = quiet_trainer_logs(Trainer(model=model, args=args, train_dataset=train, callbacks=callbacks))
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"train_loss": losses[-1] if losses else None, "steps": result.global_step}


def pretrain_from_scratch(
    cfg: PolicyConfig, seed: int, train_texts: list[str], corpus_file: Path, ckpt_dir: Path, live_dir: Path, device
) -> tuple:
    """(model, tokenizer, train stats): a BPE tokenizer trained on the corpus and a new GPT-2 pretrained on it.

    Resumes from `ckpt_dir` when it holds a checkpoint of this very run (same params, seed and corpus
    content); DVCLive curves go to `live_dir`, continued on resume.
    """
    tokenizer = train_tokenizer(train_texts, cfg.vocab_size)
    model = new_gpt2(tokenizer, cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size)
    resume = prepare_checkpoint_dir(ckpt_dir, config_fingerprint(cfg, seed, tree_digest(corpus_file)))
    if resume:
        log.info("resuming pretraining from %s", ckpt_dir)
    args = training_args(cfg, seed, ckpt_dir, device.type == "cpu", autocast_dtype(device) is not None)
    with Live(str(live_dir), dvcyaml=False, save_dvc_exp=False, resume=resume) as live:
        train_stats = pretrain(
            model,
            tokenizer,
            PackedBlocks(train_texts, tokenizer, cfg.block_size),
            args,
            [DVCLiveCallback(live=live), finite_loss_callback()],
            resume,
        )
    return model, tokenizer, train_stats


@torch.no_grad()
def held_out_perplexity(model, blocks: PackedBlocks, batch_size: int, max_batches: int, device) -> float:
    """exp of the mean token cross-entropy over the first `max_batches` validation blocks."""
    model.eval()
    total_loss, total_tokens = 0.0, 0
    for start in range(0, min(len(blocks), batch_size * max_batches), batch_size):
        ids = blocks.blocks[start : start + batch_size].to(device)  # (B, T)
        loss = model(input_ids=ids, labels=ids).loss
        n = ids.numel() - ids.shape[0]  # labels are shifted: T-1 predictions per block
        total_loss += loss.item() * n
        total_tokens += n
    return math.exp(total_loss / total_tokens)

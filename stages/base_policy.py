"""Stage base_policy: train a BPE tokenizer and pretrain a small GPT-2, or snapshot a pretrained base.

    python -m stages.base_policy      # reads params.yaml: seed, device, policy
Writes models/base/ (HF directory: safetensors, tokenizer, config, manifest) and
results/base_policy/{metrics.json,live/}. Pretraining checkpoints go to
checkpoints/base_policy/ (kept between runs, so an interrupted run resumes).
"""

from __future__ import annotations

from pathlib import Path

from dvclive import Live

from pipeline.config import load_params
from pipeline.errors import ConfigError
from pipeline.io import clear_checkpoints, log, manifest, read_jsonl, remove_outputs, stage_timer, write_json
from pipeline.models import fetch_pretrained, is_local_dir, resolve_device, save_model_with_manifest, seed_everything
from pipeline.pretrain import PackedBlocks, held_out_perplexity, pretrain_from_scratch
from pipeline.stage import run_stage
from pipeline.user_files import require_dependency

MODEL_DIR, RESULTS_DIR, CKPT_DIR = Path("models/base"), Path("results/base_policy"), Path("checkpoints/base_policy")
CORPUS_DIR = Path("data/corpus")


def main() -> None:
    params = load_params()
    cfg = params.policy
    device = resolve_device(params.device)
    if cfg.base != "scratch" and is_local_dir(cfg.base):
        require_dependency(cfg.base, "policy.base", "base_policy")
    seed_everything(params.seed)
    train_texts = [r["text"] for r in read_jsonl(CORPUS_DIR / "train.jsonl")]
    val_texts = [r["text"] for r in read_jsonl(CORPUS_DIR / "validation.jsonl")]
    if not train_texts or not val_texts:  # found now, not after training (perplexity needs validation text)
        raise ConfigError(
            f"{CORPUS_DIR}: the {'train' if not train_texts else 'validation'} split is empty; rerun `dvc repro prepare`"
        )
    # a pretrained base is loaded (and its folder checked) before the previous outputs are removed
    pretrained = None if cfg.base == "scratch" else fetch_pretrained(cfg.base)
    remove_outputs(MODEL_DIR, RESULTS_DIR / "metrics.json")

    with stage_timer("base_policy"):
        if cfg.base == "scratch":
            model, tokenizer, train_stats = pretrain_from_scratch(
                cfg, params.seed, train_texts, CORPUS_DIR / "train.jsonl", CKPT_DIR, RESULTS_DIR / "live", device
            )
        else:
            log.info("snapshotting pretrained base %s", cfg.base)
            model, tokenizer = pretrained
            train_stats = {"train_loss": None, "steps": 0}
            with Live(str(RESULTS_DIR / "live"), dvcyaml=False, save_dvc_exp=False):
                pass  # no training curves, but dvc.yaml declares the folder for every base (an empty summary)
        model.to(device)
        val_blocks = PackedBlocks(val_texts, tokenizer, min(cfg.block_size, model.config.max_position_embeddings))
        perplexity = held_out_perplexity(model, val_blocks, cfg.batch_size, cfg.eval_batches, device)
        save_model_with_manifest(
            model.cpu(), tokenizer, MODEL_DIR, manifest(cfg.model_dump(), params.seed, str(device), stage="base_policy")
        )
        clear_checkpoints(CKPT_DIR)  # they exist only to resume an interrupted run; a finished one starts afresh
    n_params = sum(p.numel() for p in model.parameters())
    metrics = {"perplexity": perplexity, "n_params": n_params, "vocab_size": len(tokenizer), **train_stats}
    log.info("base policy: %s", metrics)
    write_json(RESULTS_DIR / "metrics.json", metrics)


if __name__ == "__main__":
    run_stage(main)

"""Stage reward_model: train a Bradley-Terry reward model with TRL's RewardTrainer (prompt-grouped batches).

    python -m stages.reward_model     # reads params.yaml: seed, device, reward_model, annotator
Initialised from the base policy (or reward_model.backbone), trained on the exact token ids PPO
will score (prompt + response, cut at EOS). Writes models/reward/ (HF dir + reward normalisation
statistics from base-policy samples) and results/reward_model/ (metrics, calibration, scores, curves).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from metrics.reward_model import held_out_metrics
from pipeline.annotator import pairs_accuracy_ceiling
from pipeline.config import load_params
from pipeline.errors import ConfigError
from pipeline.io import log, manifest, read_jsonl, remove_outputs, stage_timer, write_csv, write_json
from pipeline.models import (
    check_model_dir,
    load_policy,
    load_tokenizer,
    resolve_device,
    save_model_with_manifest,
    seed_everything,
)
from pipeline.reward import (
    NORMALIZATION_FILE,
    check_backbone,
    new_reward_model,
    normalization_stats,
    policy_sample_scores,
    score_pairs,
    use_pipeline_score,
    warn_truncated,
)
from pipeline.reward_trainer import train_reward_model
from pipeline.stage import run_stage
from pipeline.user_files import require_dependency

BASE_DIR, MODEL_DIR, RESULTS_DIR = Path("models/base"), Path("models/reward"), Path("results/reward_model")
N_NORMALIZATION_PROMPTS = 128


def main() -> None:
    params = load_params()
    cfg = params.reward_model
    device = resolve_device(params.device)
    if cfg.backbone != "base":
        require_dependency(cfg.backbone, "reward_model.backbone", "reward_model")
    backbone_dir = check_model_dir(BASE_DIR if cfg.backbone == "base" else Path(cfg.backbone), "reward_model.backbone")
    tokenizer = load_tokenizer(BASE_DIR, "models/base")
    check_backbone(backbone_dir, cfg, tokenizer)
    seed_everything(params.seed)
    train_pairs, test_pairs = read_jsonl("data/preferences/train.jsonl"), read_jsonl("data/preferences/test.jsonl")
    if not train_pairs or not test_pairs:  # found now, not after training
        raise ConfigError(
            f"data/preferences: no {'training' if not train_pairs else 'held-out'} pairs; rerun `dvc repro preferences`"
        )
    warn_truncated(train_pairs + test_pairs, cfg.max_length)
    remove_outputs(MODEL_DIR, RESULTS_DIR / "metrics.json")

    with stage_timer("reward_model"):
        model = use_pipeline_score(new_reward_model(backbone_dir, tokenizer.pad_token_id, cfg.pooling))
        trainer, train_loss = train_reward_model(
            model, tokenizer, train_pairs, test_pairs, cfg, params.seed, device, RESULTS_DIR / "live"
        )
        if not trainer.is_world_process_zero():
            return  # under accelerate launch, only the main process scores and writes
        model = trainer.model.eval()
        chosen, rejected = score_pairs(model, test_pairs, cfg.max_length, tokenizer.pad_token_id, device)
        # base-policy samples on held-out prompts: the reward normalisation and the proxy-gold scatter
        base = load_policy(BASE_DIR, "models/base", device)
        normalization_prompts = read_jsonl("data/prompts/eval.jsonl")[:N_NORMALIZATION_PROMPTS]
        scores = policy_sample_scores(model, base, tokenizer, normalization_prompts, params, device)
        normalization = normalization_stats(scores)
        metrics, calibration = held_out_metrics(chosen, rejected, test_pairs, scores, n_bins=cfg.calibration_bins)
        save_model_with_manifest(
            model.cpu(),
            tokenizer,
            MODEL_DIR,
            manifest(cfg.model_dump(), params.seed, str(device), stage="reward_model"),
            {NORMALIZATION_FILE: normalization},
        )
    write_csv(RESULTS_DIR / "calibration.csv", pd.DataFrame(calibration))
    write_csv(RESULTS_DIR / "scores.csv", pd.DataFrame(scores))
    metrics |= {
        "train_loss": train_loss,
        "accuracy_ceiling": pairs_accuracy_ceiling(test_pairs, params.annotator),
        "normalization": normalization,
    }
    log.info("reward model: %s", {k: v for k, v in metrics.items() if not isinstance(v, dict)})
    write_json(RESULTS_DIR / "metrics.json", metrics)


if __name__ == "__main__":
    run_stage(main)

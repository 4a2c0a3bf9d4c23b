"""Stage reward_model: train a Bradley-Terry reward model with TRL's RewardTrainer (prompt-grouped batches).

    python -m stages.reward_model     # reads params.yaml: seed, device, reward_model, annotator
Initialised from the base policy (or reward_model.backbone), trained on the exact token ids PPO
will score (prompt + response, cut at EOS). Writes models/reward/ (HF dir + reward normalisation
statistics from base-policy samples) and results/reward_model/ (metrics, calibration, scores, curves).
"""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pandas as pd
from dvclive import Live
from transformers.integrations import DVCLiveCallback
from trl import RewardConfig

from metrics.reward_model import reward_model_metrics
from pipeline.annotator import accuracy_ceiling
from pipeline.config import ConfigError, load_params
from pipeline.errors import finite_loss_callback
from pipeline.generation import context_positions, encode_prompts, fit_prompt_ids, generate_samples
from pipeline.gold import get_gold_scorer
from pipeline.io import (
    MANIFEST_NAME,
    atomic_output,
    dumps,
    log,
    manifest,
    read_jsonl,
    remove_outputs,
    stage_timer,
    write_csv,
    write_json,
)
from pipeline.models import (
    autocast_dtype,
    check_model_dir,
    check_same_vocabulary,
    load_policy,
    load_tokenizer,
    model_positions,
    resolve_device,
    save_model,
    seed_everything,
)
from pipeline.reward import NORMALIZATION_FILE, new_reward_model, preference_features, score_token_lists, use_pipeline_score
from pipeline.reward_trainer import DedupPreferenceCollator, GroupedRewardTrainer
from pipeline.stage import run_stage
from pipeline.user_files import require_dependency

BASE_DIR, MODEL_DIR, RESULTS_DIR = Path("models/base"), Path("models/reward"), Path("results/reward_model")
N_NORMALIZATION_PROMPTS = 128


def reward_config(cfg, seed: int, device) -> RewardConfig:
    return RewardConfig(
        output_dir="checkpoints/reward_model",
        num_train_epochs=cfg.epochs,
        learning_rate=cfg.lr,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        weight_decay=cfg.weight_decay,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=0,
        logging_steps=10,
        eval_strategy="epoch",
        save_strategy="no",
        seed=seed,
        data_seed=seed,
        use_cpu=device.type == "cpu",
        bf16=autocast_dtype(device) is not None,
        report_to=[],
        disable_dropout=True,
        max_length=None,  # ids are cut in preference_features, exactly as PPO will see them
        dataloader_num_workers=0,
    )


def sample_scores(rm, tokenizer, params, device) -> list[dict]:
    """Base-policy samples on held-out prompts with proxy and gold scores (normalisation + scatter)."""
    policy = load_policy(BASE_DIR, "models/base", device)
    prompts = read_jsonl("data/prompts/eval.jsonl")[:N_NORMALIZATION_PROMPTS]
    ppo = params.ppo
    samples = generate_samples(
        policy,
        tokenizer,
        prompts,
        2,
        ppo.response_length,
        ppo.temperature,
        256,
        params.seed + 1,
        device,
        "base",
        stop_at_eos=ppo.stop_at_eos,
        with_logprobs=False,
    )
    texts = [p["prompt"] for p in prompts]  # cut to the context as generate_samples cut them
    fitted = fit_prompt_ids(
        encode_prompts(tokenizer, texts), context_positions(policy), ppo.response_length, "ppo.response_length"
    )
    prompt_ids = dict(zip(texts, fitted, strict=True))
    proxy = score_token_lists(
        rm, [prompt_ids[s["prompt"]] + s["response_ids"] for s in samples], tokenizer.pad_token_id, 128, device
    )
    gold = get_gold_scorer(params.annotator.gold)([s["response"] for s in samples])
    return [{"proxy": p, "gold": g} for p, g in zip(proxy, gold, strict=True)]


def check_backbone(backbone_dir: Path, cfg, tokenizer) -> None:
    """The backbone reads the base's token ids (same vocabulary, token for token) and takes max_length positions."""
    if cfg.backbone != "base":
        check_same_vocabulary(
            load_tokenizer(backbone_dir, "reward_model.backbone"), tokenizer, "reward_model.backbone", "the base policy"
        )
    positions = model_positions(backbone_dir, "reward_model.backbone")
    if positions is not None and cfg.max_length > positions:
        raise ConfigError(
            f"reward_model.max_length: {cfg.max_length} exceeds the backbone's {positions} positions ({backbone_dir}); lower it"
        )


def warn_truncated(pairs: list[dict], max_length: int) -> None:
    """Pairs longer than max_length are scored on their last max_length tokens (left truncation, as in PPO's cut)."""
    n_long = sum(len(p["prompt_ids"]) + max(len(p["chosen_ids"]), len(p["rejected_ids"])) > max_length for p in pairs)
    if n_long:
        log.warning(
            "%d of %d preference pairs exceed reward_model.max_length=%d tokens; the reward model sees their last %d",
            n_long,
            len(pairs),
            max_length,
            max_length,
        )


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
        train_ds = datasets.Dataset.from_dict(preference_features(train_pairs, cfg.max_length))
        test_ds = datasets.Dataset.from_dict(preference_features(test_pairs, cfg.max_length))
        with Live(str(RESULTS_DIR / "live"), dvcyaml=False, save_dvc_exp=False) as live:
            trainer = GroupedRewardTrainer(
                model=model,
                args=reward_config(cfg, params.seed, device),
                train_dataset=train_ds,
                eval_dataset=test_ds,
                processing_class=tokenizer,
                data_collator=DedupPreferenceCollator(tokenizer.pad_token_id),
                callbacks=[DVCLiveCallback(live=live), finite_loss_callback()],
                group_keys=[tuple(p["prompt_ids"]) for p in train_pairs],
            )
            train_loss = trainer.train().training_loss
        if not trainer.is_world_process_zero():
            return  # under accelerate launch, only the main process scores and writes
        model = trainer.model.eval()
        feats = preference_features(test_pairs, cfg.max_length)
        chosen = score_token_lists(model, feats["chosen_ids"], tokenizer.pad_token_id, 128, device)
        rejected = score_token_lists(model, feats["rejected_ids"], tokenizer.pad_token_id, 128, device)
        scores = sample_scores(model, tokenizer, params, device)
        proxy = np.array([s["proxy"] for s in scores])
        gold = np.array([s["gold"] for s in scores])
        normalization = {
            "mean": float(proxy.mean()),
            "std": float(proxy.std() + 1e-8),
            "n_samples": len(proxy),
            "gold_mean": float(gold.mean()),
            "gold_std": float(gold.std() + 1e-8),
        }
        simulated = "gold_chosen" in test_pairs[0]
        metrics, calibration = reward_model_metrics(
            chosen,
            rejected,
            gold_chosen=[p["gold_chosen"] for p in test_pairs] if simulated else None,
            gold_rejected=[p["gold_rejected"] for p in test_pairs] if simulated else None,
            proxy=proxy.tolist(),
            gold=[s["gold"] for s in scores],
            n_bins=cfg.calibration_bins,
        )
        with atomic_output(MODEL_DIR) as tmp:
            save_model(model.cpu(), tokenizer, tmp)
            write_json(tmp / NORMALIZATION_FILE, normalization)
            (tmp / MANIFEST_NAME).write_text(dumps(manifest(cfg.model_dump(), params.seed, str(device), stage="reward_model")))
    write_csv(RESULTS_DIR / "calibration.csv", pd.DataFrame(calibration))
    write_csv(RESULTS_DIR / "scores.csv", pd.DataFrame(scores))
    metrics |= {
        "train_loss": train_loss,
        "accuracy_ceiling": test_ceiling(test_pairs, params.annotator),
        "normalization": normalization,
    }
    log.info("reward model: %s", {k: v for k, v in metrics.items() if not isinstance(v, dict)})
    write_json(RESULTS_DIR / "metrics.json", metrics)


def test_ceiling(pairs: list[dict], annotator) -> float | None:
    """The accuracy ceiling on the same held-out pairs the accuracy is measured on (simulated labels only)."""
    if not pairs or "gold_chosen" not in pairs[0]:
        return None
    return accuracy_ceiling(
        [p["gold_chosen"] for p in pairs], [p["gold_rejected"] for p in pairs], annotator.tau, annotator.epsilon
    )


if __name__ == "__main__":
    run_stage(main)

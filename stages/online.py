"""The body of the online-method stages (stages.rloo, stages.grpo): one curve of RLOO or GRPO through TRL."""

from __future__ import annotations

from pathlib import Path

from dvclive import Live
from transformers.integrations import DVCLiveCallback

from pipeline.config import curve_model_dir, curve_results_dir, gold_available, load_params
from pipeline.errors import ConfigError, finite_loss_callback
from pipeline.gold import get_gold_scorer
from pipeline.io import log, read_jsonl, remove_outputs, stage_timer
from pipeline.models import load_policy, load_tokenizer, resolve_device, seed_everything
from pipeline.reward import load_reward_model
from pipeline.stage import parse_knob
from rl.trl_methods import CurveEval, ProxyReward, last_logged, online_trainer, save_policy, write_curve

BASE_DIR, RM_DIR = Path("models/base"), Path("models/reward")


def run_online(method: str, argv: list[str] | None) -> None:
    params = load_params()
    key = f"curves.{method}_kl_coef"
    kl_coef = parse_knob(argv, method, "--kl-coef", getattr(params.curves, f"{method}_kl_coef"), key)
    cfg, ppo, sampling, device = getattr(params, method), params.ppo, params.sampling, resolve_device(params.device)
    model_dir, results_dir = curve_model_dir(method, kl_coef), curve_results_dir(method, kl_coef)
    seed_everything(params.seed)
    tokenizer = load_tokenizer(BASE_DIR)
    train_prompts, eval_prompts = (
        read_jsonl("data/prompts/train.jsonl"),
        read_jsonl("data/prompts/eval.jsonl")[: ppo.n_eval_prompts],
    )
    if len(train_prompts) * cfg.num_generations < cfg.batch_size:
        raise ConfigError(
            f"{method}.batch_size: {cfg.batch_size} completions need {cfg.batch_size // cfg.num_generations} prompts; data/prompts has {len(train_prompts)}"
        )
    remove_outputs(model_dir, results_dir)

    with stage_timer(f"{method}@{kl_coef}", write=False) as timings:
        reward_model, norm = load_reward_model(RM_DIR, device)
        reward = ProxyReward(reward_model, tokenizer, norm, device, ppo.missing_eos_penalty, sampling.max_new_tokens)
        with Live(str(results_dir / "live"), dvcyaml=False, save_dvc_exp=False) as live:
            evaluator = CurveEval(
                tokenizer,
                eval_prompts,
                get_gold_scorer(params.annotator.gold) if gold_available(params) else None,  # real labels: no gold
                seed=params.seed,
                every=cfg.eval_every,
                samples_per_prompt=ppo.eval_samples_per_prompt,
            )
            trainer = online_trainer(
                method,
                load_policy(BASE_DIR, "models/base"),
                tokenizer,
                train_prompts,
                reward,
                cfg,
                sampling,
                kl_coef,
                seed=params.seed,
                device=device,
                callbacks=[evaluator, DVCLiveCallback(live=live), finite_loss_callback()],
            )
            evaluator.bind(trainer, sampling, load_policy(BASE_DIR, "models/base", device), reward_model, norm)
            trainer.train()
        if not trainer.is_world_process_zero():
            return
        policy = trainer.accelerator.unwrap_model(trainer.model)
        save_policy(policy, tokenizer, model_dir, cfg.model_dump() | {"kl_coef": kl_coef}, params.seed, device, method)
    final = last_logged(trainer, "reward", "kl", "loss", "entropy", "num_tokens")
    summary = {
        "kl_coef": kl_coef,
        "lr": cfg.lr,
        "updates": trainer.state.global_step,
        "episodes": reward.episodes,
        "tokens": final.pop("num_tokens", None),
        "final": final,
    }
    log.info("%s@%s: %s", method, kl_coef, summary)
    write_curve(results_dir, evaluator, summary, timings)

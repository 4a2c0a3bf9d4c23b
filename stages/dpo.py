"""Stage dpo@<beta>: DPO (TRL's DPOTrainer) on the preference pairs the reward model learns from.

    python -m stages.dpo --beta 0.1        # one curve (dvc.yaml runs one per curves.dpo_beta)
Reference = models/base; beta is the KL knob. Reads data/preferences (train pairs, and the test pairs
for the implicit reward's held-out accuracy), data/prompts (held-out evaluation prompts), models/reward
(proxy scores at the evaluation points). Writes models/dpo/kl<beta>/ and results/curves/dpo/kl<beta>/
(eval.csv, eval_samples.jsonl, live/ under TRL's metric names, metrics.json, timing.json).
"""

from __future__ import annotations

from pathlib import Path

from dvclive import Live
from transformers.integrations import DVCLiveCallback

from pipeline.config import curve_model_dir, curve_results_dir, gold_available, load_params
from pipeline.errors import finite_loss_callback
from pipeline.gold import get_gold_scorer
from pipeline.io import log, read_jsonl, remove_outputs, stage_timer
from pipeline.models import load_policy, load_tokenizer, model_positions, resolve_device, seed_everything
from pipeline.reward import load_reward_model
from pipeline.stage import parse_knob, run_stage
from rl.trl_methods import (
    CurveEval,
    dpo_trainer,
    fitted_pairs,
    implicit_reward_accuracy,
    last_logged,
    save_policy,
    write_curve,
)

BASE_DIR, RM_DIR, PREFS = Path("models/base"), Path("models/reward"), Path("data/preferences")


def main(argv: list[str] | None = None) -> None:
    params = load_params()
    beta = parse_knob(argv, "dpo", "--beta", params.curves.dpo_beta, "curves.dpo_beta")
    cfg, device = params.dpo, resolve_device(params.device)
    model_dir, results_dir = curve_model_dir("dpo", beta), curve_results_dir("dpo", beta)
    seed_everything(params.seed)
    tokenizer = load_tokenizer(BASE_DIR)
    positions = model_positions(BASE_DIR, "models/base")
    train_pairs, test_pairs = (fitted_pairs(PREFS, split, positions) for split in ("train", "test"))
    eval_prompts = read_jsonl("data/prompts/eval.jsonl")[: params.ppo.n_eval_prompts]
    remove_outputs(model_dir, results_dir)

    with stage_timer(f"dpo@{beta}", write=False) as timings:
        reward_model, norm = load_reward_model(RM_DIR, device)
        ref = load_policy(BASE_DIR, "models/base", device)
        with Live(str(results_dir / "live"), dvcyaml=False, save_dvc_exp=False) as live:
            evaluator = CurveEval(
                tokenizer,
                eval_prompts,
                get_gold_scorer(params.annotator.gold) if gold_available(params) else None,  # real labels: no gold
                seed=params.seed,
                every=cfg.eval_every,
                samples_per_prompt=params.ppo.eval_samples_per_prompt,
            )
            trainer = dpo_trainer(
                load_policy(BASE_DIR, "models/base"),
                ref,
                tokenizer,
                train_pairs,
                cfg,
                beta,
                seed=params.seed,
                device=device,
                callbacks=[evaluator, DVCLiveCallback(live=live), finite_loss_callback()],
            )
            evaluator.bind(trainer, params.sampling, ref, reward_model, norm)
            trainer.train()
        if not trainer.is_world_process_zero():
            return
        policy = trainer.accelerator.unwrap_model(trainer.model)
        held_out = implicit_reward_accuracy(policy, ref, test_pairs, beta, tokenizer.pad_token_id, trainer.accelerator.device)
        save_policy(policy, tokenizer, model_dir, cfg.model_dump() | {"beta": beta}, params.seed, device, "dpo")
    final = last_logged(trainer, "loss", "rewards/accuracies", "rewards/margins", "num_tokens")
    summary = {
        "beta": beta,
        "lr": cfg.lr,
        "steps": trainer.state.global_step,
        "pairs": trainer.state.global_step * cfg.batch_size,
        "tokens": final.pop("num_tokens", None),
        "final": final,
        "held_out": held_out,
    }
    log.info("dpo@%s: %s", beta, summary)
    write_curve(results_dir, evaluator, summary, timings)


if __name__ == "__main__":
    run_stage(main)

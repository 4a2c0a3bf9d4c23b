"""Stage ppo@<beta>: optimise the base policy against the proxy reward model with a KL penalty beta.

    python -m stages.ppo --kl-coef 0.03         # one curve (dvc.yaml runs one per curves.ppo_kl_coef)
    accelerate launch -m stages.ppo --kl-coef 0.03
Reads models/base, models/reward, data/prompts and the ppo params. Writes models/ppo/kl<beta>/ and
results/curves/ppo/kl<beta>/ (DVCLive curves under TRL's metric names; eval.csv: the curve's held-out
points with CIs; eval_samples.jsonl: the samples behind them; metrics.json). Checkpoints in
checkpoints/ppo/kl<beta>/ let an interrupted run resume exactly.
"""

from __future__ import annotations

from pathlib import Path

from accelerate import Accelerator

from pipeline.config import curve_dir, curve_model_dir, curve_results_dir, gold_available, load_params
from pipeline.gold import get_gold_scorer
from pipeline.io import clear_checkpoints, log, manifest, read_jsonl, remove_outputs, stage_timer, write_json
from pipeline.models import autocast_dtype, load_policy, load_tokenizer, resolve_device, save_model_with_manifest, seed_everything
from pipeline.reward import load_reward_model
from pipeline.stage import parse_knob, run_stage
from rl.ppo_checkpoint import CheckpointCallback, load_checkpoint, run_fingerprint
from rl.ppo_eval import EvalCallback, write_curve_files
from rl.ppo_trainer import PPOTrainer, check_prompt_batches, curve_summary, fitted_queries, phase_timings

BASE_DIR, RM_DIR = Path("models/base"), Path("models/reward")


def main(argv: list[str] | None = None) -> None:
    params = load_params()
    kl_coef = parse_knob(argv, "ppo", "--kl-coef", params.curves.ppo_kl_coef, "curves.ppo_kl_coef")
    cfg, device, curve = params.ppo, resolve_device(params.device), curve_dir(kl_coef)
    model_dir, results_dir, ckpt_dir = (
        curve_model_dir("ppo", kl_coef),
        curve_results_dir("ppo", kl_coef),
        Path("checkpoints/ppo") / curve,
    )
    gold = get_gold_scorer(params.annotator.gold) if gold_available(params) else None
    acc = Accelerator(cpu=device.type == "cpu", mixed_precision="bf16" if autocast_dtype(device) is not None else "no")
    seed_everything(params.seed)
    tokenizer = load_tokenizer(BASE_DIR)
    train_prompts, eval_prompts = (
        read_jsonl("data/prompts/train.jsonl"),
        read_jsonl("data/prompts/eval.jsonl")[: cfg.n_eval_prompts],
    )
    # fail early, before loading models, on too few prompts or an indivisible batch
    check_prompt_batches(len(train_prompts), cfg.batch_size, params.seed, acc.num_processes)
    remove_outputs(model_dir, results_dir)

    with stage_timer(f"ppo@{kl_coef}", write=False) as timings:
        value_model, norm = load_reward_model(RM_DIR, "cpu")
        trainer = PPOTrainer(
            cfg,
            acc,
            load_policy(BASE_DIR, "models/base"),
            load_policy(BASE_DIR, "models/base"),
            value_model,
            load_reward_model(RM_DIR, "cpu")[0],
            tokenizer,
            norm,
            params.seed,
            kl_coef=kl_coef,
            sampling=params.sampling,
        )
        query_tokens = fitted_queries(trainer, tokenizer, train_prompts, params.sampling.max_new_tokens)
        fingerprint = run_fingerprint(params, acc.num_processes, kl_coef, (BASE_DIR, RM_DIR, Path("data/prompts")))
        load_checkpoint(trainer, ckpt_dir, fingerprint)
        evaluator = EvalCallback(
            tokenizer, eval_prompts, gold, seed=params.seed, every=cfg.eval_every, samples_per_prompt=cfg.eval_samples_per_prompt
        )
        history = trainer.train(
            query_tokens, callbacks=[evaluator, CheckpointCallback(ckpt_dir, fingerprint, cfg.checkpoint_every)]
        )
        acc.wait_for_everyone()
        timings |= phase_timings(history)
        if acc.is_main_process:
            policy_manifest = manifest(
                cfg.model_dump() | {"kl_coef": kl_coef}, params.seed, str(device), stage="ppo", processes=acc.num_processes
            )
            save_model_with_manifest(trainer.unwrapped.policy.cpu(), tokenizer, model_dir, policy_manifest)
            clear_checkpoints(ckpt_dir)
    if not acc.is_main_process:
        return
    write_curve_files(results_dir, history, trainer.state.eval_samples)
    summary = curve_summary(kl_coef, history, cfg, trainer.state.episode, acc.num_processes)
    log.info("ppo@%s: %s", kl_coef, summary)
    write_json(results_dir / "metrics.json", summary)
    write_json(results_dir / "timing.json", timings)


if __name__ == "__main__":
    run_stage(main)

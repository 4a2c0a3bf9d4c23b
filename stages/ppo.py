"""Stage ppo: optimise the base policy against the proxy reward model with a KL penalty.

    python -m stages.ppo                       # one process (CPU default, CUDA when present)
    accelerate launch -m stages.ppo            # N processes: prompts sharded, stats averaged
Reads models/base, models/reward, data/prompts and the ppo params. Writes models/ppo/ and
results/ppo/ (DVCLive curves under TRL's metric names, eval.csv: the RL reward-KL points,
metrics.json). Checkpoints in checkpoints/ppo/ let an interrupted run resume exactly.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from accelerate import Accelerator
from dvclive import Live
from tqdm.auto import tqdm

from pipeline.config import ConfigError, load_params
from pipeline.gold import get_gold_scorer
from pipeline.io import (
    MANIFEST_NAME,
    atomic_output,
    clear_checkpoints,
    dumps,
    log,
    manifest,
    read_jsonl,
    remove_outputs,
    stage_timer,
    write_csv,
    write_json,
)
from pipeline.models import autocast_dtype, load_policy, load_tokenizer, resolve_device, save_model, seed_everything
from pipeline.ppo_checkpoint import load_checkpoint, run_fingerprint, save_checkpoint
from pipeline.ppo_eval import evaluate_point
from pipeline.ppo_trainer import PPOTrainer, prompt_batch
from pipeline.reward import load_reward_model
from pipeline.stage import run_stage

BASE_DIR, RM_DIR, MODEL_DIR = Path("models/base"), Path("models/reward"), Path("models/ppo")
RESULTS_DIR, CKPT_DIR = Path("results/ppo"), Path("checkpoints/ppo")


def write_curves(history: list[dict], live_dir: Path) -> None:
    """DVCLive curves written once from the (checkpointed) history, so a resumed run logs each step once."""
    with Live(str(live_dir), dvcyaml=False, save_dvc_exp=False) as live:
        for row in history:
            for name, value in row.items():
                if name != "update":
                    live.log_metric(name, value)
            live.next_step()


def main() -> None:
    params = load_params()
    cfg, device = params.ppo, resolve_device(params.device)
    gold = get_gold_scorer(params.annotator.gold)
    mixed = "bf16" if autocast_dtype(device) is not None else "no"
    acc = Accelerator(cpu=device.type == "cpu", mixed_precision=mixed)
    seed_everything(params.seed)
    tokenizer = load_tokenizer(BASE_DIR)
    train_prompts = read_jsonl("data/prompts/train.jsonl")
    eval_prompts = read_jsonl("data/prompts/eval.jsonl")[: cfg.n_eval_prompts]
    query_tokens = tokenizer([p["prompt"] for p in train_prompts], add_special_tokens=False)["input_ids"]
    try:  # fail early, before loading models, on too few prompts or an indivisible batch
        prompt_batch(len(train_prompts), cfg.batch_size, 0, params.seed, 0, acc.num_processes)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    remove_outputs(MODEL_DIR, RESULTS_DIR / "metrics.json", RESULTS_DIR / "eval.csv", RESULTS_DIR / "live")

    with stage_timer("ppo") as timings:
        policy, ref = load_policy(BASE_DIR, "models/base"), load_policy(BASE_DIR, "models/base")
        value_model, norm = load_reward_model(RM_DIR, "cpu")
        reward_model, _ = load_reward_model(RM_DIR, "cpu")
        trainer = PPOTrainer(cfg, acc, policy, ref, value_model, reward_model, tokenizer, norm, params.seed)
        fingerprint = run_fingerprint(params, acc.num_processes)
        load_checkpoint(trainer, CKPT_DIR, fingerprint)
        state = trainer.state
        if state.update == 0 and acc.is_main_process:
            state.history.append({"update": 0} | evaluate_point(trainer, tokenizer, eval_prompts, gold, params.seed))
        bar = tqdm(range(state.update, cfg.total_updates), initial=state.update, total=cfg.total_updates, desc="ppo", disable=not acc.is_main_process)
        for update in bar:
            idx = prompt_batch(len(train_prompts), cfg.batch_size, update, params.seed, acc.process_index, acc.num_processes)
            stats = trainer.step([query_tokens[i] for i in idx], update)
            if acc.is_main_process and ((update + 1) % cfg.eval_every == 0 or update + 1 == cfg.total_updates):
                stats |= evaluate_point(trainer, tokenizer, eval_prompts, gold, params.seed)
            state.history.append({"update": update + 1} | stats)
            bar.set_postfix(score=f"{stats['objective/scores']:.2f}", kl=f"{stats['objective/kl']:.2f}")
            if (update + 1) % cfg.checkpoint_every == 0 and update + 1 < cfg.total_updates:
                save_checkpoint(trainer, CKPT_DIR, fingerprint)
        acc.wait_for_everyone()
        for key in ("time/generation_s", "time/scoring_s", "time/update_s"):
            timings[key.split("/")[1]] = round(sum(h.get(key, 0.0) for h in state.history), 2)
        if acc.is_main_process:
            with atomic_output(MODEL_DIR) as tmp:
                save_model(trainer.unwrapped.policy.cpu(), tokenizer, tmp)
                (tmp / MANIFEST_NAME).write_text(dumps(manifest(cfg.model_dump(), params.seed, str(device), stage="ppo", processes=acc.num_processes)))
            clear_checkpoints(CKPT_DIR)
    if not acc.is_main_process:
        return
    history = state.history
    write_curves(history, RESULTS_DIR / "live")
    evals = pd.DataFrame([h for h in history if "eval/kl" in h])[["update", "eval/kl", "eval/gold_reward", "eval/proxy_reward", "eval/gold_ci_low", "eval/gold_ci_high"]]
    write_csv(RESULTS_DIR / "eval.csv", evals)
    final = history[-1]
    summary = {"final_kl": final["objective/kl"], "final_scores": final["objective/scores"], "final_eval_gold": final.get("eval/gold_reward"),
                "initial_eval_gold": history[0].get("eval/gold_reward"), "updates": cfg.total_updates, "processes": acc.num_processes}
    log.info("ppo: %s", summary)
    write_json(RESULTS_DIR / "metrics.json", summary)


if __name__ == "__main__":
    run_stage(main)

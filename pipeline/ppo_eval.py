"""Held-out evaluation points during PPO: gold reward, proxy reward and KL to the reference.

These points are the RL curve of the reward-KL frontier the report draws.
"""

from __future__ import annotations

import numpy as np
import torch

from metrics.bootstrap import bootstrap_ci
from pipeline.generation import generate_samples
from pipeline.reward import score_records

EVAL_SEED_OFFSET = 17  # the same eval samples' randomness at every point, apart from the policy itself


@torch.no_grad()
def evaluate_point(trainer, tokenizer, prompts: list[dict], gold_fn, seed: int) -> dict:
    policy = trainer.unwrapped.policy
    policy.eval()
    device = trainer.acc.device
    with trainer.acc.autocast():
        records = generate_samples(
            policy, tokenizer, prompts, 1, trainer.cfg.response_length, trainer.cfg.temperature, 256,
            seed + EVAL_SEED_OFFSET, device, "ppo", ref_model=trainer.ref_policy, stop_at_eos=trainer.cfg.stop_at_eos,
        )
        score_records(trainer.reward_model, tokenizer, records, trainer.reward_norm, 256, device)
    gold = np.array(gold_fn([r["response"] for r in records]))
    ci = bootstrap_ci(gold, n_boot=500, seed=seed)
    return {
        "eval/gold_reward": float(gold.mean()),
        "eval/gold_ci_low": ci["ci_low"],
        "eval/gold_ci_high": ci["ci_high"],
        "eval/proxy_reward": float(np.mean([r["proxy_reward_norm"] for r in records])),
        "eval/kl": float(np.mean([r["logprob"] - r["ref_logprob"] for r in records])),
    }

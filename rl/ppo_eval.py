"""Held-out evaluation points during PPO: registry metrics (gold, proxy, KL, diversity) with CIs.

These points are one RL curve of the reward-KL frontier; the samples behind them let the
report show text at the gold peak and at the end of the run. At the end, the curve's files are
written from the run's history: DVCLive curves, eval.csv and eval_samples.jsonl.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from dvclive import Live

from metrics import compute_metric
from pipeline.generation import generate_samples
from pipeline.gold import add_gold_scores
from pipeline.io import write_csv, write_jsonl
from pipeline.reward import score_records
from pipeline.seeds import derive_seed
from rl.ppo_trainer import Callback

# what each evaluation point measures: every name is a registered metric
EVAL_METRICS = (
    "gold_reward",
    "gold_reward_norm",
    "proxy_reward_norm",
    "proxy_gold_gap",
    "kl",
    "distinct_2_across_input",
    "self_bleu_across_input",
)
GOLD_METRICS = ("gold_reward", "gold_reward_norm", "proxy_gold_gap")
GOLD_PART_METRICS = ("gold_sentiment", "gold_fluency", "gold_repetition")  # where the gold scorer has parts
EVAL_SAMPLE_FIELDS = (
    "prompt_id",
    "sample_idx",
    "prompt",
    "response",
    "gold_reward",
    *GOLD_PART_METRICS,
    "proxy_reward_norm",
    "logprob",
    "ref_logprob",
)


@torch.no_grad()
def evaluate_point(
    trainer,
    tokenizer,
    prompts: list[dict],
    gold_fn,
    *,
    seed: int,
    samples_per_prompt: int,
    n_boot: int = 500,
    untrained: bool = False,
) -> tuple[dict, list[dict]]:
    """({"eval/<metric>": mean, "eval/<metric>_ci_low": ..., "eval/<metric>_ci_high": ...}, the scored samples).

    Every point draws with the same seed, so points differ by the policy, not by sampling noise. `untrained`: the
    point before the first update, where the policy is its reference, so its KL is 0 by definition (the sampler's
    log-probs would put it at floating-point noise from 0) and the reference's forward pass is skipped.
    """
    policy = trainer.unwrapped.policy
    policy.eval()
    device = trainer.acc.device
    with trainer.acc.autocast():
        records = generate_samples(
            policy,
            tokenizer,
            prompts,
            trainer.sampling,
            samples_per_prompt=samples_per_prompt,
            batch_size=256,
            seed=derive_seed(seed, "ppo-eval"),
            device=device,
            policy_name="ppo",
            ref_model=None if untrained else trainer.ref_policy,
            sampler_logprobs=True,  # one batch of a fixed size: a forward pass fewer per point, no knob to vary it
            progress=False,
        )
        score_records(trainer.reward_model, tokenizer, records, trainer.reward_norm, 256, device, trainer.sampling.max_new_tokens)
    if gold_fn is not None:  # None: real human labels, no gold to judge by
        add_gold_scores(records, gold_fn, trainer.reward_norm)
    stats = {}
    names = [m for m in EVAL_METRICS if gold_fn is not None or m not in GOLD_METRICS]
    for name in names + [m for m in GOLD_PART_METRICS if records and m in records[0]]:
        ci = compute_metric(name, records, {}, n_boot=n_boot, seed=seed)
        stats |= {f"eval/{name}": ci["mean"], f"eval/{name}_ci_low": ci["ci_low"], f"eval/{name}_ci_high": ci["ci_high"]}
    return stats, [{k: r[k] for k in EVAL_SAMPLE_FIELDS if k in r} for r in records]


def is_eval_step(step: int, every: int, last: int) -> bool:
    """Whether a curve is evaluated after `step` updates: step 0, every `every`-th, the last, and the powers of two below
    `every`, because the KL to the base moves fastest in the first updates and a curve's low-KL stretch would otherwise
    be one straight line from step 0 to step `every` (matched-KL budgets read there would be interpolations)."""
    return step % every == 0 or step == last or (step < every and step & (step - 1) == 0)


class EvalCallback(Callback):
    """Evaluates at the steps `is_eval_step` names; the samples go to trainer.state (checkpointed)."""

    def __init__(self, tokenizer, prompts: list[dict], gold_fn, *, seed: int, every: int, samples_per_prompt: int):
        self.tokenizer, self.prompts, self.gold_fn = tokenizer, prompts, gold_fn
        self.seed, self.every, self.samples_per_prompt = seed, every, samples_per_prompt

    def measure(self, trainer, update: int) -> dict:
        if not trainer.acc.is_main_process or not is_eval_step(update, self.every, trainer.cfg.total_updates):
            return {}
        stats, samples = evaluate_point(
            trainer,
            self.tokenizer,
            self.prompts,
            self.gold_fn,
            seed=self.seed,
            samples_per_prompt=self.samples_per_prompt,
            untrained=update == 0,
        )
        trainer.state.eval_samples.extend({"update": update} | s for s in samples)
        return stats


def eval_table(history: list[dict]) -> pd.DataFrame:
    """The curve's evaluation points (eval.csv): one row per evaluated update, its eval/ stats without the prefix."""
    evals = pd.DataFrame(
        [{"update": h["update"]} | {k: v for k, v in h.items() if k.startswith("eval/")} for h in history if "eval/kl" in h]
    )
    return evals.rename(columns=lambda c: c.removeprefix("eval/"))


def write_curves(history: list[dict], live_dir: Path) -> None:
    """DVCLive curves written once from the (checkpointed) history, so a resumed run logs each step once."""
    with Live(str(live_dir), dvcyaml=False, save_dvc_exp=False) as live:
        for row in history:
            for name, value in row.items():
                if name != "update":
                    live.log_metric(name, value)
            live.next_step()


def write_curve_files(results_dir: Path, history: list[dict], eval_samples: list[dict]) -> None:
    """A PPO curve's results: DVCLive curves (live/), its evaluation points (eval.csv) and the samples behind them."""
    write_curves(history, results_dir / "live")
    write_csv(results_dir / "eval.csv", eval_table(history))
    write_jsonl(results_dir / "eval_samples.jsonl", eval_samples)

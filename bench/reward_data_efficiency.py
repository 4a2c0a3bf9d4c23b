"""How much the simulated labels can teach a lexical scorer, as a function of prompts x samples per prompt.

    python -m bench.reward_data_efficiency                      # needs models/base and data/prompts (dvc repro)
    python -m bench.reward_data_efficiency --grid 2400x4 2400x8 --test-prompts 300

Samples max(k) continuations for the largest prompt count once (the preferences stage's sampler and
settings from params.yaml), labels every pair within a prompt with the annotator, and fits a
bag-of-words Bradley-Terry model (a learned weight per token, summed over the response; 200
full-batch Adam steps, L2 1e-3) on each (prompts, k) subset. Accuracy against gold order is measured
on the pairs of held-out prompts (their first 8 samples), the same for every row. It is a reference
for what the labels carry, not a reward model: the stage's model should reach about the same.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import torch

from pipeline.config import load_params
from pipeline.errors import OneLineParser, positive_int, run_cli
from pipeline.generation import encode_prompts, generate_samples
from pipeline.gold import get_gold_scorer
from pipeline.io import read_jsonl
from pipeline.models import load_policy, load_tokenizer
from pipeline.preferences import simulate_pairs

OUT = Path("bench/out/reward_data_efficiency.json")
TEST_K = 8  # samples per held-out prompt: 28 pairs each, so ~5.6k test pairs for 300 prompts


def bag_of_words_accuracy(
    train_pairs: list[dict], test_pairs: list[dict], vocab_size: int, steps: int = 200, l2: float = 1e-3
) -> float:
    """Gold-order accuracy on test pairs of a Bradley-Terry model scoring a response as a sum of token weights."""
    weights = torch.zeros(vocab_size, 1, requires_grad=True)

    def score(seqs: list[list[int]]) -> torch.Tensor:
        flat = torch.tensor([t for s in seqs for t in s])
        offsets = torch.tensor([0] + [len(s) for s in seqs[:-1]]).cumsum(0)
        return torch.nn.functional.embedding_bag(flat, weights, offsets, mode="sum").squeeze(1)

    chosen, rejected = [p["chosen_ids"] for p in train_pairs], [p["rejected_ids"] for p in train_pairs]
    opt = torch.optim.Adam([weights], lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        loss = -torch.nn.functional.logsigmoid(score(chosen) - score(rejected)).mean() + l2 * weights.pow(2).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        margin = (score([p["chosen_ids"] for p in test_pairs]) - score([p["rejected_ids"] for p in test_pairs])).numpy()
    gold = np.array([p["gold_chosen"] - p["gold_rejected"] for p in test_pairs])
    return float(((margin > 0) == (gold > 0)).mean())  # tied-gold pairs are dropped by the annotator's default policy


def grid_cell(text: str) -> tuple[int, int]:
    """An argparse type: PROMPTSxK with PROMPTS >= 1 and K >= 2 (a pair needs two samples)."""
    m = re.fullmatch(r"(\d+)x(\d+)", text)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not PROMPTSxK with PROMPTS >= 1 and K >= 2, e.g. 2400x8")
    return int(m.group(1)), int(m.group(2))


def main() -> None:
    parser = OneLineParser(prog="python -m bench.reward_data_efficiency", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--grid",
        nargs="+",
        type=grid_cell,
        default=[(2400, 4), (2400, 6), (1600, 8), (2000, 8), (2400, 8), (2700, 8)],
        help="PROMPTSxK, e.g. 2400x8",
    )
    parser.add_argument("--test-prompts", type=positive_int, default=300)
    args = parser.parse_args()
    grid = args.grid
    params, device = load_params(), torch.device("cpu")
    cfg = params.preferences
    n_train, k_max = max(n for n, _ in grid), max(max(k for _, k in grid), TEST_K)
    prompts = read_jsonl("data/prompts/train.jsonl")[: n_train + args.test_prompts]
    tokenizer, model = load_tokenizer("models/base"), load_policy("models/base", "models/base", device)
    t0 = time.perf_counter()
    samples = generate_samples(
        model,
        tokenizer,
        prompts,
        params.sampling,
        samples_per_prompt=k_max,
        batch_size=cfg.batch_size,
        seed=params.seed,
        device=device,
        policy_name="base",
        with_logprobs=False,
    )
    print(f"sampled {len(samples)} responses in {time.perf_counter() - t0:.1f} s")
    prompt_ids = dict(zip([p["prompt"] for p in prompts], encode_prompts(tokenizer, [p["prompt"] for p in prompts]), strict=True))
    for s, g in zip(samples, get_gold_scorer(params.annotator.gold)([s["response"] for s in samples]), strict=True):
        s |= {"gold": g, "prompt_ids": prompt_ids[s["prompt"]]}
    by_prompt: dict[int, list[dict]] = {}
    for s in samples:
        by_prompt.setdefault(s["prompt_id"], []).append(s)
    order = [p["prompt_id"] for p in prompts]
    test_ids, train_ids = order[-args.test_prompts :], order[: -args.test_prompts]
    test_pairs, _ = simulate_pairs([s for i in test_ids for s in by_prompt[i][:TEST_K]], params.annotator, params.seed)
    rows = []
    print(f"\n{'prompts x k':<14}{'samples':>9}{'train pairs':>13}{'gold-order acc':>16}   (test: {len(test_pairs)} pairs)")
    for n, k in grid:
        train_pairs, _ = simulate_pairs([s for i in train_ids[:n] for s in by_prompt[i][:k]], params.annotator, params.seed)
        acc = bag_of_words_accuracy(train_pairs, test_pairs, len(tokenizer))
        rows.append({"prompts": n, "k": k, "samples": n * k, "train_pairs": len(train_pairs), "accuracy_gold": acc})
        print(f"{f'{n} x {k}':<14}{n * k:>9}{len(train_pairs):>13}{acc:>16.3f}", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"rows": rows, "test_pairs": len(test_pairs), "seed": params.seed}, indent=2) + "\n")


if __name__ == "__main__":
    run_cli(main)

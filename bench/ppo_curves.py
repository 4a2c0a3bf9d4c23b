"""PPO gold/proxy/KL curves for hyper-parameter choices, on the workspace's models/base and models/reward.

    python -m bench.ppo_curves --kl-coef 0.03 --set lr=1e-4 num_minibatches=4 --tag lr1e-4
Runs the library's PPOTrainer.train with the same evaluation callback as the ppo stage (the
params.yaml ppo section, overridden by --set), prints one row per evaluation point and writes
bench/results/ppo_curves/<tag>.json. This is how the default PPO settings were chosen
(bench/RESULTS.md).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml
from accelerate import Accelerator

from pipeline.config import load_params
from pipeline.errors import ConfigError, OneLineParser, run_cli
from pipeline.gold import get_gold_scorer
from pipeline.io import read_jsonl
from pipeline.models import load_policy, load_tokenizer, seed_everything
from pipeline.reward import load_reward_model
from rl.ppo_eval import EvalCallback
from rl.ppo_trainer import PPOTrainer
from stages.ppo import fitted_queries

OUT_DIR = Path("bench/results/ppo_curves")
SHOWN = ("kl", "gold_reward", "proxy_reward_norm", "proxy_gold_gap", "distinct_2_across_input")


def parse_overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--set {pair!r}: use key=value, e.g. lr=1e-4")
        out[key] = yaml.safe_load(value)
    return out


def run(kl_coef: float, overrides: dict, seed: int) -> tuple[list[dict], float]:
    params = load_params()
    try:
        cfg = type(params.ppo).model_validate(params.ppo.model_dump() | overrides)
    except ValueError as err:
        raise ConfigError(f"--set: {str(err).splitlines()[0]} {str(err).splitlines()[-1].strip()}") from None
    seed_everything(seed)
    tokenizer = load_tokenizer("models/base")
    eval_prompts = read_jsonl("data/prompts/eval.jsonl")[: cfg.n_eval_prompts]
    value_model, norm = load_reward_model("models/reward", "cpu")
    trainer = PPOTrainer(
        cfg,
        Accelerator(cpu=True),
        load_policy("models/base"),
        load_policy("models/base"),
        value_model,
        load_reward_model("models/reward", "cpu")[0],
        tokenizer,
        norm,
        seed,
        kl_coef=kl_coef,
        sampling=params.sampling,
    )
    # the prompts fitted as stages.ppo fits them (to the policy, reference, value and reward models)
    queries = fitted_queries(trainer, tokenizer, read_jsonl("data/prompts/train.jsonl"), params.sampling.max_new_tokens)
    evaluator = EvalCallback(
        tokenizer,
        eval_prompts,
        get_gold_scorer(params.annotator.gold),
        seed=seed,
        every=cfg.eval_every,
        samples_per_prompt=cfg.eval_samples_per_prompt,
    )
    start = time.perf_counter()
    history = trainer.train(queries, callbacks=[evaluator], progress=False)
    return history, time.perf_counter() - start


def main() -> int:
    parser = OneLineParser(prog="python -m bench.ppo_curves", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kl-coef", type=float, required=True)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="ppo params overrides")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", required=True, help="name of the JSON file written under bench/results/ppo_curves/")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    history, seconds = run(args.kl_coef, overrides, args.seed)
    points = [
        {"update": h["update"]} | {k.removeprefix("eval/"): v for k, v in h.items() if k.startswith("eval/")}
        for h in history
        if "eval/kl" in h
    ]
    print(f"kl_coef={args.kl_coef} {overrides} ({seconds:.0f} s)")
    print("update " + " ".join(f"{c:>24s}" for c in SHOWN))
    for p in points:
        print(f"{p['update']:6d} " + " ".join(f"{p[c]:8.3f} [{p[c + '_ci_low']:6.3f},{p[c + '_ci_high']:6.3f}]" for c in SHOWN))
    train_stats = [
        {k: h[k] for k in ("update", "objective/kl", "objective/scores", "policy/clipfrac_avg", "policy/approxkl_avg") if k in h}
        for h in history[1:]
    ]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    record = {
        "kl_coef": args.kl_coef,
        "overrides": overrides,
        "seed": args.seed,
        "seconds": round(seconds, 1),
        "points": points,
        "train": train_stats,
    }
    (OUT_DIR / f"{args.tag}.json").write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    run_cli(main)

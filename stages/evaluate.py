"""Stage evaluate: score every policy's samples (gold + proxy), compute metrics with bootstrap CIs.

    python -m stages.evaluate         # reads params.yaml: seed, device, annotator.gold, evaluate
Writes results/metrics.json (nested: policies.<name>.<metric>.{mean,ci_low,ci_high}, best_of_n.<n>,
plus upstream preferences/reward_model/base_policy/ppo figures), results/samples.jsonl (per-sample
table) and results/frontier.csv (reward-KL points of PPO evaluations and best-of-n).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from metrics import best_of_n, evaluate_policy, metric_info
from pipeline.config import load_params
from pipeline.gold import get_gold_scorer
from pipeline.io import package_versions, read_json, read_jsonl, remove_outputs, stage_timer, write_csv, write_json, write_jsonl
from pipeline.models import load_tokenizer, resolve_device
from pipeline.reward import load_reward_model, score_records
from pipeline.stage import run_stage

RESULTS, OUTPUTS = Path("results"), Path("outputs")
UPSTREAM = ("prepare", "base_policy", "preferences", "reward_model", "ppo", "generate")
SAMPLE_FIELDS = ("prompt_id", "prompt", "policy", "sample_idx", "response", "n_tokens", "ended_with_eos", "logprob", "ref_logprob", "gold_reward", "proxy_reward", "proxy_reward_norm")


def frontier(policies: dict, bon: dict, ppo_evals: pd.DataFrame) -> pd.DataFrame:
    rows = [
        {"method": "ppo", "label": f"update {int(r['update'])}", "kl": max(r["eval/kl"], 0.0), "gold_reward": r["eval/gold_reward"],
         "proxy_reward": r["eval/proxy_reward"], "gold_ci_low": r["eval/gold_ci_low"], "gold_ci_high": r["eval/gold_ci_high"]}
        for _, r in ppo_evals.iterrows()
    ]
    rows += [
        {"method": "best_of_n", "label": f"n={n}", "kl": v["kl"], "gold_reward": v["gold_reward"]["mean"], "proxy_reward": v["proxy_reward_norm"]["mean"],
         "gold_ci_low": v["gold_reward"]["ci_low"], "gold_ci_high": v["gold_reward"]["ci_high"]}
        for n, v in bon.items()
    ]
    rows += [
        {"method": f"policy:{name}", "label": name, "kl": max(m["kl"]["mean"], 0.0), "gold_reward": m["gold_reward"]["mean"], "proxy_reward": m["proxy_reward_norm"]["mean"],
         "gold_ci_low": m["gold_reward"]["ci_low"], "gold_ci_high": m["gold_reward"]["ci_high"]}
        for name, m in policies.items()
    ]
    out = pd.DataFrame(rows)
    out.insert(3, "sqrt_kl", out["kl"].map(math.sqrt))
    return out


def main() -> None:
    params = load_params()
    cfg, device = params.evaluate, resolve_device(params.device)
    gold_fn = get_gold_scorer(params.annotator.gold)
    names = list(params.generate.policies) + list(params.generate.extra_policies)
    tokenizer = load_tokenizer("models/base")
    remove_outputs(RESULTS / "metrics.json", RESULTS / "metric_info.json", RESULTS / "samples.jsonl", RESULTS / "frontier.csv")
    with stage_timer("evaluate"):
        rm, norm = load_reward_model("models/reward", device)
        samples = {name: read_jsonl(OUTPUTS / f"{name}.jsonl") for name in names}
        for recs in samples.values():
            score_records(rm, tokenizer, recs, norm, 256, device)
            for r, g in zip(recs, gold_fn([r["response"] for r in recs]), strict=True):
                r["gold_reward"] = g
        boot = {"n_boot": cfg.bootstrap_samples, "confidence": cfg.confidence, "seed": params.seed}
        policies = {name: evaluate_policy(recs, samples["base"], vocab_size=len(tokenizer), **boot) for name, recs in samples.items()}
        ns = [2**i for i in range(int(math.log2(cfg.best_of_n_max)) + 1)]
        bon = {str(n): v for n, v in best_of_n(samples["base"], ns, **boot).items()}
        points = frontier(policies, bon, pd.read_csv(RESULTS / "ppo" / "eval.csv"))
    upstream = {stage: read_json(RESULTS / stage / "metrics.json") for stage in UPSTREAM}
    summary = upstream | {
        "run": {"seed": params.seed, "device": str(device), "packages": package_versions()},
        "policies": policies,
        "best_of_n": bon,
    }
    write_csv(RESULTS / "frontier.csv", points)
    write_jsonl(RESULTS / "samples.jsonl", ({k: r[k] for k in SAMPLE_FIELDS} for recs in samples.values() for r in recs))
    write_json(RESULTS / "metric_info.json", metric_info())
    write_json(RESULTS / "metrics.json", summary)


if __name__ == "__main__":
    run_stage(main)

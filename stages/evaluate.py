"""Stage evaluate: score every policy's samples (gold + proxy), compute metrics with bootstrap CIs.

    python -m stages.evaluate         # reads params.yaml: seed, device, annotator.gold, evaluate
Writes results/metrics.json (nested: policies.<name>.<metric>.{mean,ci_low,ci_high}, best_of_n.<n>,
plus upstream preferences/reward_model/base_policy/curve figures), results/summary.json (headline means keyed by
role, not knob value: the DVC metrics file, see reporting/summary.py), results/samples.jsonl (per-sample table) and
results/frontier.csv (reward-KL points of every curve's evaluations and best-of-n).
Plug-in metrics (evaluate.metrics) are imported here only, so adding one reruns evaluate and report, never training.
"""

from __future__ import annotations

from pathlib import Path

from metrics import best_of_n, evaluate_policy, metric_info
from metrics.copying import CorpusNgramIndex
from metrics.curve_results import curve_summaries, load_curves, peak_selection
from metrics.evaluation import best_of_n_sizes, sample_table
from metrics.frontier import curve_peaks, frontier_table
from pipeline.config import gold_available, load_params, policy_sources
from pipeline.gold import add_gold_scores, get_gold_scorer, probe_order_holds, probe_scores
from pipeline.io import package_versions, read_json, read_jsonl, remove_outputs, stage_timer, write_csv, write_json, write_jsonl
from pipeline.models import load_tokenizer, resolve_device
from pipeline.reward import load_reward_model, score_records
from pipeline.stage import run_stage
from reporting.summary import register_plugins, summary_metrics

RESULTS, OUTPUTS = Path("results"), Path("outputs")
PRETRAIN_CORPUS = Path("data/corpus/train.jsonl")  # what a scratch base policy pretrains on (stages/base_policy.py)
UPSTREAM = ("prepare", "base_policy", "preferences", "reward_model", "generate")


def main() -> None:
    params = load_params()
    headline = register_plugins(params.evaluate.metrics)
    cfg, device = params.evaluate, resolve_device(params.device)
    gold_fn = get_gold_scorer(params.annotator.gold) if gold_available(params) else None
    names = list(policy_sources(params))
    tokenizer = load_tokenizer("models/base")
    remove_outputs(*(RESULTS / f for f in ("metrics.json", "summary.json", "metric_info.json", "samples.jsonl", "frontier.csv")))
    with stage_timer("evaluate"):
        rm, norm = load_reward_model("models/reward", device)
        samples = {name: read_jsonl(OUTPUTS / f"{name}.jsonl") for name in names}
        for recs in samples.values():
            score_records(rm, tokenizer, recs, norm, 256, device, params.sampling.max_new_tokens)
            if gold_fn is not None:  # real human labels have no gold: proxy, KL and diversity only
                add_gold_scores(recs, gold_fn, norm)
        k = params.generate.samples_per_prompt
        base_pool, samples["base"] = (
            samples["base"],
            [r for r in samples["base"] if r["sample_idx"] < k],
        )  # every policy's metrics on k samples
        boot = {"n_boot": cfg.bootstrap_samples, "confidence": cfg.confidence, "seed": params.seed}
        copying = {"corpus_ngrams": CorpusNgramIndex(r["text"] for r in read_jsonl(PRETRAIN_CORPUS))}
        policies = {
            name: evaluate_policy(recs, samples["base"], vocab_size=len(tokenizer), **boot, context=copying)
            for name, recs in samples.items()
        }
        bon = {str(n): v for n, v in best_of_n(base_pool, best_of_n_sizes(cfg.best_of_n_max), **boot).items()}
        curves = load_curves(params)
        points = frontier_table(curves, bon, policies)
        peaks = curve_peaks(points, [name for _, name, _, _ in curves])
        selection = peak_selection(params, boot)
        probes = probe_scores(gold_fn) if gold_fn is not None else []
    upstream = {stage: read_json(RESULTS / stage / "metrics.json") for stage in UPSTREAM}
    upstream["curves"] = curve_summaries(params)
    summary = upstream | {
        "run": {
            "seed": params.seed,
            "device": str(device),
            "gold": params.annotator.gold if gold_fn else None,
            "packages": package_versions(),
        },
        "policies": policies,
        "best_of_n": bon,
        "overoptimisation": peaks,
        "peak_selection": selection,
        "gold_probes": {"order_holds": probe_order_holds(probes), "scores": probes} if probes else None,
    }
    write_csv(RESULTS / "frontier.csv", points)
    write_jsonl(RESULTS / "samples.jsonl", sample_table(samples))
    write_json(RESULTS / "metric_info.json", metric_info())
    write_json(RESULTS / "metrics.json", summary)
    write_json(RESULTS / "summary.json", summary_metrics(summary, points, headline))


if __name__ == "__main__":
    run_stage(main)

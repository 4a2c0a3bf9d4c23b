"""What hardening the gold against search costs it on English: one row per shipped fit (experiment, 2026-12-06).

    python -m pipeline.readability                         # ships pipeline/readability_fit.json
    python -m bench.gold_frontier FIT.json [FIT.json ...]  # fits of this code (variants of SEARCH_ROUNDS / vocabulary)
Writes bench/results/gold_frontier.json.

Per fit: calibration accuracy, the search rounds of its fit, the probe means and the probes out of the order a careful
reader puts them in (the rule of tests/test_readability.py), two validation searches of 3,000 evaluations on a prompt
the fit never searched (seeds the fit never used): word-only (the bench's attack) and with sentence marks among the
moves (what a sub-word policy can write), and the readability of the sub-word fragments PPO found against the first
hardened gold (bench/results/gold_agreement_hardened_2026-12-06.json) next to fluent neutral English.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

OUT = Path("bench/results/gold_frontier.json")
MARKS = [".", ",", "!", "?", ";", ":", "...", '"']


def evaluate(path: str) -> dict:
    import pipeline.readability as readability
    from bench.gold_attack import fortune_words
    from pipeline.gold import get_gold_scorer, probe_scores, score_gold
    from pipeline.gold_probes import FLUENT_NEUTRAL, FLUENT_POSITIVE
    from pipeline.hard_negatives import greedy_word_search

    model = readability.from_json(json.loads(Path(path).read_text()))
    readability.gold_readability = lambda: model  # noqa: E731
    scorer = get_gold_scorer("readable_sentiment")
    probes = probe_scores(scorer)
    neutral = sorted(p["gold"] for p in probes if p["kind"] == "fluent_neutral")
    out_of_order = [
        p["name"]
        for p in probes
        if (p["kind"] in ("degenerate", "fluent_negative") and p["gold"] >= neutral[0])
        or (p["kind"] == "fluent_positive" and p["gold"] <= np.median(neutral))
    ]
    prompt = "It is a truth"

    def judge(texts: list[str]) -> list[float]:
        return score_gold(scorer, texts, [prompt] * len(texts))

    target = float(np.mean(judge(list(FLUENT_POSITIVE))))
    words = fortune_words()[0]
    attacks = {}
    for name, vocab, seeds in (("word_search", words, range(20, 24)), ("search_with_marks", words + MARKS, range(30, 34))):
        runs = [greedy_word_search(judge, vocab, 3000, np.random.default_rng(s)) for s in seeds]
        attacks[name] = {
            "best": [r["best"] for r in runs],
            "above_positive_probe_mean": sum(r["best"] > target for r in runs),
            "best_text": max(runs, key=lambda r: r["best"])["text"],
        }
    hardened = json.loads(Path("bench/results/gold_agreement_hardened_2026-12-06.json").read_text())["worst_disagreements"]
    fragments = [w for w in hardened if w["readable_sentiment_fluency"] > 0.9]
    return {
        "fit": Path(path).name,
        "search_rounds": len(model.search_rounds),
        "last_round_search_best_mean": model.search_rounds[-1]["search_best_mean"] if model.search_rounds else None,
        "weights": dict(zip((*readability.FEATURES, "intercept"), np.round(model.weights, 3).tolist(), strict=True)),
        "calibration_accuracy": round(model.calibration_accuracy, 4),
        "probe_means": {
            k: round(float(np.mean([p["gold"] for p in probes if p["kind"] == k])), 3)
            for k in ("fluent_positive", "fluent_neutral", "fluent_negative", "degenerate")
        },
        "probes_out_of_order": out_of_order,
        "positive_probe_mean": round(target, 4),
        "attacks": attacks,
        "ppo_fragment_readability": round(float(np.mean([model.score(w["response"], w["prompt"]) for w in fragments])), 3),
        "n_ppo_fragments": len(fragments),
        "neutral_probe_readability": round(float(np.mean([model.score(t) for t in FLUENT_NEUTRAL])), 3),
    }


def main() -> int:
    rows = [evaluate(p) for p in sys.argv[1:]]
    for r in rows:
        print(json.dumps(r))
    OUT.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

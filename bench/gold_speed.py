"""Gold scorer cost on CPU: milliseconds per 1,000 texts for each registered scorer, and the fit time.

    python -m bench.gold_speed                 # 5,000 probe-like texts, best of 3
Writes bench/results/gold_speed.json.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from pipeline.errors import OneLineParser, positive_int, run_cli
from pipeline.fluency import gold_fluency_model
from pipeline.gold import GOLD_PROBES, GOLD_SCORERS
from pipeline.readability import fit_readability, gold_ngram_models

OUT = Path("bench/results/gold_speed.json")


def main() -> int:
    parser = OneLineParser(prog="python -m bench.gold_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=positive_int, default=5000)
    parser.add_argument("--repeats", type=positive_int, default=3)
    args = parser.parse_args()
    fit_s = {}
    # the readability fit proper (stages load its weights from the cache after the first one: pipeline.readability)
    fits = (("fluent_sentiment", gold_fluency_model), ("readable_sentiment", lambda: (gold_ngram_models(), fit_readability())))
    for name, fit in fits:
        start = time.perf_counter()
        fit()  # fitted once per process; timed apart from scoring
        fit_s[name] = round(time.perf_counter() - start, 2)
    texts = [GOLD_PROBES[i % len(GOLD_PROBES)][2] for i in range(args.texts)]
    rows = {}
    for name, scorer in sorted(GOLD_SCORERS.items()):
        if name == "smollm2_sentiment":  # a 135M-parameter LM: bench/gold_agreement.py times it
            continue
        best = min(_timed(scorer, texts) for _ in range(args.repeats))
        rows[name] = round(1000 * best / len(texts) * 1000, 1)
    print(f"model fits (once per process): {fit_s} s")
    print(f"{'scorer':<18} ms per 1,000 texts")
    for name, ms in rows.items():
        print(f"{name:<18} {ms:>8.1f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "machine": platform.processor() or platform.machine(),
                "texts": args.texts,
                "fit_s": fit_s,
                "ms_per_1000": rows,
            },
            indent=1,
        )
        + "\n"
    )
    return 0


def _timed(scorer, texts) -> float:
    start = time.perf_counter()
    scorer(texts)
    return time.perf_counter() - start


if __name__ == "__main__":
    run_cli(main)

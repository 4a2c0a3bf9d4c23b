"""Does the default gold agree with an independent language model? readable_sentiment vs smollm2_sentiment.

    make smollm2 && python -m bench.gold_agreement          # after `dvc repro` (reads outputs/ and the curves' samples)
    python -m bench.gold_agreement --n 1200
Writes bench/results/gold_agreement.json.

Texts: `--n` responses drawn evenly from every committed policy's generations (outputs/*.jsonl)
and every curve's evaluation points (results/curves/*/*/eval_samples.jsonl), each read after its
prompt, plus the probe set. Both judges score every text; the JSON holds the pooled Spearman rho
of the golds (`spearman`) and of the fluency components alone (`spearman_fluency`: readability vs
the LM's SLOR fluency), per-policy rho, and the texts the two rank furthest apart.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from pipeline.errors import OneLineParser, positive_int, run_cli
from pipeline.gold import GOLD_COMPONENTS, GOLD_PROBES

OUT = Path("bench/results/gold_agreement.json")


def policy_texts(n: int, seed: int = 0) -> list[dict]:
    """{"source", "prompt", "response"} drawn evenly over every policy file and curve evaluation point."""
    groups: dict[str, list[dict]] = {}
    for path in sorted(Path("outputs").glob("*.jsonl")):
        groups[path.stem] = [json.loads(line) for line in path.read_text().splitlines()]
    for path in sorted(Path("results/curves").glob("*/*/eval_samples.jsonl")):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            groups.setdefault(f"{path.parent.parent.name}/{path.parent.name}@{r.get('update', r.get('step', '?'))}", []).append(r)
    if not groups:
        raise SystemExit("error: no outputs/*.jsonl or results/curves/*/*/eval_samples.jsonl; run `dvc repro` first")
    rng, per_group = np.random.default_rng(seed), max(1, n // len(groups))
    out = []
    for name, rows in groups.items():
        for i in rng.permutation(len(rows))[:per_group]:
            out.append({"source": name, "prompt": rows[i]["prompt"], "response": rows[i]["response"]})
    return out


def rho(a, b) -> float | None:
    return None if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0 else round(float(spearmanr(a, b).statistic), 4)


def main() -> int:
    parser = OneLineParser(prog="python -m bench.gold_agreement", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=positive_int, default=1200, help="policy samples (spread evenly over policies and curve points)"
    )
    parser.add_argument("--worst", type=positive_int, default=12)
    args = parser.parse_args()
    rows = policy_texts(args.n)
    rows += [{"source": f"probe:{kind}", "prompt": "", "response": text} for _, kind, text in GOLD_PROBES]
    texts, prompts = [r["response"] for r in rows], [r["prompt"] for r in rows]
    timings = {}
    for name in ("readable_sentiment", "smollm2_sentiment"):
        start = time.perf_counter()
        parts = GOLD_COMPONENTS[name](texts, prompts)
        timings[name] = round(time.perf_counter() - start, 1)
        for r, p in zip(rows, parts, strict=True):
            r[name], r[f"{name}_fluency"] = round(p["gold"], 4), round(p["fluency"], 4)
    policy = [r for r in rows if not r["source"].startswith("probe:")]
    a, b = (np.array([r[k] for r in policy]) for k in ("readable_sentiment", "smollm2_sentiment"))
    fa, fb = (np.array([r[k] for r in policy]) for k in ("readable_sentiment_fluency", "smollm2_sentiment_fluency"))
    ranks = lambda x: np.argsort(np.argsort(x)) / max(len(x) - 1, 1)  # noqa: E731
    gap = ranks(a) - ranks(b)
    worst = [policy[i] | {"rank_gap": round(float(gap[i]), 3)} for i in np.argsort(-np.abs(gap))[: args.worst]]
    per_source = {}
    for src in sorted({r["source"].split("@")[0] for r in policy}):
        sub = [r for r in policy if r["source"].split("@")[0] == src]
        per_source[src] = {
            "n": len(sub),
            "spearman": rho([r["readable_sentiment"] for r in sub], [r["smollm2_sentiment"] for r in sub]),
            "mean_readable_sentiment": round(float(np.mean([r["readable_sentiment"] for r in sub])), 4),
            "mean_smollm2_sentiment": round(float(np.mean([r["smollm2_sentiment"] for r in sub])), 4),
        }
    probes = [r for r in rows if r["source"].startswith("probe:")]
    report = {
        "n": len(policy),
        "spearman": rho(a, b),
        "spearman_fluency": rho(fa, fb),
        "spearman_with_probes": rho([r["readable_sentiment"] for r in rows], [r["smollm2_sentiment"] for r in rows]),
        "per_policy": per_source,
        "probe_means": {
            kind: {
                j: round(float(np.mean([r[j] for r in probes if r["source"] == f"probe:{kind}"])), 4)
                for j in ("readable_sentiment", "smollm2_sentiment")
            }
            for kind in sorted({k for _, k, _ in GOLD_PROBES})
        },
        "worst_disagreements": worst,
        "seconds": timings,
    }
    print(f"n={report['n']}  spearman {report['spearman']}  spearman_fluency {report['spearman_fluency']}")
    for src, s in per_source.items():
        print(f"  {src:<28} n={s['n']:<4} rho {s['spearman']}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))

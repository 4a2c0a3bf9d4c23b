"""Does the default gold agree with an independent language model? readable_sentiment vs smollm2_sentiment.

    make smollm2 && python -m bench.gold_agreement          # after `dvc repro` (reads outputs/ and the curves' samples)
    python -m bench.gold_agreement --n 1200
Writes bench/results/gold_agreement.json.

Texts: `--n` responses drawn evenly from every committed policy's generations (outputs/*.jsonl)
and every curve's evaluation points (results/curves/*/*/eval_samples.jsonl), each read after its
prompt, plus the probe set. Both judges score every text; the JSON holds the pooled Spearman rho
of the golds (`spearman`) and of the fluency components alone (`spearman_fluency`: readability vs
the LM's SLOR fluency), the golds' rho without the texts both judges penalise alike for repetition
(`spearman_no_repetition`: there they differ only by fluency), the same two with the LM's plain
log-probability fluency (`spearman_logprob`, `spearman_fluency_logprob`), per-policy rho and means, both
judges' means at every curve evaluation point (`per_point`: does the second judge see the gold's peak?),
what the 100 furthest-apart texts are made of, and the 12 texts the two rank furthest apart.
`run_metrics_sha256` names the run (results/metrics.json): REPORT.md cites the file only while it
describes the run the report shows. Every scored text goes to bench/out/gold_agreement_rows.jsonl.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from scipy.stats import rankdata, spearmanr

from pipeline.errors import OneLineParser, positive_int, run_cli
from pipeline.gold import GOLD_COMPONENTS, GOLD_PROBES
from reporting.data import metrics_digest

OUT = Path("bench/results/gold_agreement.json")
ROWS = Path("bench/out/gold_agreement_rows.jsonl")  # every scored text, both judges' parts (not committed)


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


def disagreement_profile(policy: list[dict], gap: np.ndarray, top: int = 100) -> dict:
    """Who ranks a text higher among the `top` largest rank gaps, and what those texts are made of: the share of their
    words English does not know (the gold's lexicon) and of their characters that are marks or symbols."""
    from pipeline.readability import is_word, symbol_share, tokens, word_class

    def unknown_share(text: str) -> float:
        words = [t for t in tokens(text) if is_word(t)]
        return sum(word_class(w.lower()) == "<unk>" for w in words) / max(1, len(words))

    def profile(texts: list[str]) -> dict:
        share = lambda f: round(float(np.mean([f(t) for t in texts])), 3) if texts else None  # noqa: E731
        return {"n": len(texts), "mean_unknown_word_share": share(unknown_share), "mean_symbol_share": share(symbol_share)}

    order = np.argsort(-np.abs(gap))[:top]
    return {
        "gold_higher": profile([policy[i]["response"] for i in order if gap[i] > 0]),
        "lm_higher": profile([policy[i]["response"] for i in order if gap[i] < 0]),
        "all_policy_samples": profile([r["response"] for r in policy]),
    }


def means(rows: list[dict], keys: tuple[str, ...]) -> dict[str, float]:
    return {f"mean_{k}": round(float(np.mean([r[k] for r in rows])), 4) for k in keys}


def rho(a, b) -> float | None:
    return None if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0 else round(float(spearmanr(a, b).statistic), 4)


def main() -> int:
    parser = OneLineParser(prog="python -m bench.gold_agreement", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=positive_int, default=1200, help="policy samples (spread evenly over policies and curve points)"
    )
    parser.add_argument("--worst", type=positive_int, default=12)
    args = parser.parse_args()
    run = metrics_digest(Path("results"))  # before reading the samples: a `dvc repro` meanwhile must not rename them
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
            r["repetition"] = round(p["repetition"], 4)  # the same factor in both judges
            if name == "smollm2_sentiment":
                r[f"{name}_logprob"], r[f"{name}_fluency_logprob"] = round(p["gold_logprob"], 4), round(p["fluency_logprob"], 4)
    policy = [r for r in rows if not r["source"].startswith("probe:")]
    a, b = (np.array([r[k] for r in policy]) for k in ("readable_sentiment", "smollm2_sentiment"))
    fa, fb = (np.array([r[k] for r in policy]) for k in ("readable_sentiment_fluency", "smollm2_sentiment_fluency"))
    ranks = lambda x: (rankdata(x) - 1) / max(len(x) - 1, 1)  # noqa: E731  (ties share a rank, as in Spearman's rho)
    gap = ranks(a) - ranks(b)
    worst = [policy[i] | {"rank_gap": round(float(gap[i]), 3)} for i in np.argsort(-np.abs(gap))[: args.worst]]
    golds = ("readable_sentiment", "smollm2_sentiment")
    fluencies = ("readable_sentiment_fluency", "smollm2_sentiment_fluency")
    per_source = {}
    for src in sorted({r["source"].split("@")[0] for r in policy}):
        sub = [r for r in policy if r["source"].split("@")[0] == src]
        per_source[src] = {"n": len(sub), "spearman": rho(*([r[k] for r in sub] for k in golds)), **means(sub, golds + fluencies)}
    per_point = {}  # each curve evaluation point on its own: does the second judge see the gold's peak?
    for src in sorted({r["source"] for r in policy if "@" in r["source"]}):
        sub = [r for r in policy if r["source"] == src]
        per_point[src] = {"n": len(sub), **means(sub, golds)}
    probes = [r for r in rows if r["source"].startswith("probe:")]
    distinct = [r for r in policy if r["repetition"] == 1.0]
    report = {
        # the run it scored: the report cites this file only while results/metrics.json is this one
        "run_metrics_sha256": run,
        "n": len(policy),
        "spearman": rho(a, b),
        # without the texts both judges penalise alike for repeating words: there the golds differ only by fluency
        "n_no_repetition": len(distinct),
        "spearman_no_repetition": rho([r["readable_sentiment"] for r in distinct], [r["smollm2_sentiment"] for r in distinct]),
        "spearman_fluency": rho(fa, fb),
        # the same with the LM judge's plain log-probability fluency in place of its SLOR (pipeline/lm_judge.py)
        "spearman_logprob": rho(a, [r["smollm2_sentiment_logprob"] for r in policy]),
        "spearman_fluency_logprob": rho(fa, [r["smollm2_sentiment_fluency_logprob"] for r in policy]),
        "disagreements": disagreement_profile(policy, gap, top=100),
        "spearman_with_probes": rho([r["readable_sentiment"] for r in rows], [r["smollm2_sentiment"] for r in rows]),
        "per_policy": per_source,
        "per_point": per_point,
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
    print(f"  without texts penalised for repetition (n={report['n_no_repetition']}): {report['spearman_no_repetition']}")
    print(f"  with the LM's log-probability fluency: {report['spearman_logprob']} / {report['spearman_fluency_logprob']}")
    print(f"  disagreements: {json.dumps(report['disagreements'])}")
    for src, s in per_source.items():
        print(f"  {src:<28} n={s['n']:<4} rho {s['spearman']}")
    if metrics_digest(Path("results")) != run:
        raise SystemExit("error: results/metrics.json changed while the judges scored its samples; rerun after `dvc repro`")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1) + "\n")
    ROWS.parent.mkdir(parents=True, exist_ok=True)
    ROWS.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))

"""White-box attacks on the judges: can word search fool the gold as easily as it fools the proxy?

    python -m bench.gold_attack                      # after `dvc repro reward_model` (the proxy is models/reward)
    python -m bench.gold_attack --restarts 5 --budget 3000
    python -m bench.gold_attack --judges smollm2_sentiment --out bench/results/gold_attack_smollm2_2026-12-06.json
    python -m bench.gold_attack --judges bench.gold_attack:min_fluency_gold --out bench/results/gold_attack_min_fluency_2026-12-06.json
Writes bench/results/gold_attack.json (or --out).

Greedy word substitution, the same budget for every judge: start from 18 random words of the
3,000 most common fortune words, propose batches of one-word substitutions, keep the best if it
raises the score, never let the distinct-word share fall below 0.8. The response continues a fixed
held-out prompt. Each judge's targets are its own mean score on the fluent neutral and fluent
positive probes (pipeline.gold_probes): an attack "passes" a probe level when its text scores above
it. Then the other attack kinds that fooled the round-2 gold: positive words injected into real
sentences, name and foreign-tag lists, positive words between runs of dots, and n-gram babble (best of 16 by
each judge).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

from pipeline.errors import OneLineParser, positive_int, run_cli
from pipeline.gold import get_gold_scorer, score_gold
from pipeline.gold_probes import FLUENT_NEUTRAL, FLUENT_POSITIVE

OUT = Path("bench/results/gold_attack.json")
WORDS, MIN_DISTINCT, PROPOSALS = 18, 0.8, 16
WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def fortune_words() -> tuple[list[str], list[list[str]]]:
    """The 3,000 most common words of every gold fortune file, and each entry's words (for babble)."""
    from pipeline.corpus import find_fortune_files, parse_fortunes
    from pipeline.fluency import GOLD_FORTUNE_FILES

    entries = [
        WORD.findall(e.lower()) for p in find_fortune_files(list(GOLD_FORTUNE_FILES)) for e in parse_fortunes(p.read_text())
    ]
    counts = Counter(w for e in entries for w in e)
    return [w for w, _ in counts.most_common(3000)], [e for e in entries if len(e) >= 3]


def greedy_attack(judge, vocab: list[str], budget: int, rng: np.random.Generator, targets: dict[str, float]) -> dict:
    words = list(rng.choice(vocab, WORDS, replace=False))
    best = judge([" ".join(words)])[0]
    evals, passed = 1, {k: (1 if best > v else None) for k, v in targets.items()}
    while evals < budget:
        proposals = []
        for _ in range(PROPOSALS):
            cand = list(words)
            cand[int(rng.integers(WORDS))] = str(vocab[int(rng.integers(len(vocab)))])
            if len(set(cand)) / WORDS >= MIN_DISTINCT:
                proposals.append(cand)
        scores = judge([" ".join(c) for c in proposals])
        for i, s in enumerate(scores):
            for k, v in targets.items():
                if passed[k] is None and s > v:
                    passed[k] = evals + i + 1
        evals += len(proposals)
        i = int(np.argmax(scores))
        if scores[i] > best:
            best, words = scores[i], proposals[i]
    return {"best": round(float(best), 4), "text": " ".join(words), "evals": evals} | {
        f"evals_to_pass_{k}": v for k, v in passed.items()
    }


def trigram_follow(entries: list[list[str]]) -> dict[tuple[str, str], Counter]:
    follow: dict[tuple[str, str], Counter] = {}
    for e in entries:
        for a, b, c in zip(e, e[1:], e[2:], strict=False):
            follow.setdefault((a, b), Counter())[c] += 1
    return follow


def babble(entries: list[list[str]], follow: dict, rng: np.random.Generator, n: int) -> str:
    """Words sampled from the fortune trigram counts: every window of three was seen somewhere."""
    out = list(entries[int(rng.integers(len(entries)))][:2])
    while len(out) < n:
        nxt = follow.get((out[-2], out[-1]))
        if not nxt:
            out += entries[int(rng.integers(len(entries)))][:2]
            continue
        words, counts = zip(*nxt.items(), strict=True)
        out.append(words[int(rng.choice(len(words), p=np.array(counts) / sum(counts)))])
    return " ".join(out[:n])


def other_attacks(judge, entries: list[list[str]], rng: np.random.Generator, n_babble: int) -> dict:
    from pipeline.gold import vader_lexicon
    from pipeline.hard_negatives import _positive  # the positive VADER words the calibration injects

    positive = sorted(w for w in vader_lexicon() if _positive(w))
    injected = []
    for text in FLUENT_NEUTRAL:
        toks = text.split()
        for i in range(1, len(toks), 3):
            toks[i] = positive[int(rng.integers(len(positive)))]
        injected.append(" ".join(toks))
    tags = [
        "Great wisdom, Ambrose Bierce, Mark Twain, Oscar Wilde.",
        "In vino veritas, carpe diem, amor vincit omnia: love!",
        "c'est la vie, c'est magnifique, wunderbar, love it.",
        "Bravo, Maestro Rossini, bellissima, ole, wonderful!",
        "Joy, Abraham Lincoln, Benjamin Franklin, Confucius, love.",
        "Amen, hallelujah, namaste, shalom, peace and love.",
    ]
    padded = []  # the quick profile's PPO exploit of the round-3 gold: a few words between runs of dots and tabs
    for text in FLUENT_POSITIVE:
        toks = text.split()
        padded.append("".join(w + str(rng.choice(["...", "......", ".\t..", ".."])) for w in toks[:: max(2, len(toks) // 4)]))
    follow = trigram_follow(entries)
    babbles = [babble(entries, follow, rng, WORDS) for _ in range(n_babble)]
    babble_scores = np.array(judge(babbles)).reshape(-1, 16)
    best_babble = [babbles[16 * i + int(j)] for i, j in enumerate(babble_scores.argmax(1))]
    return {
        "injected": _summary(injected, judge(injected)),
        "name_and_foreign_tags": _summary(tags, judge(tags)),
        "symbol_padding": _summary(padded, judge(padded)),
        "babble_all": {"n": len(babbles), "mean": round(float(babble_scores.mean()), 4)},
        "babble_best_of_16": _summary(best_babble, list(babble_scores.max(1))),
    }


def _summary(texts: list[str], scores: list[float]) -> dict:
    i = int(np.argmax(scores))
    return {"n": len(texts), "mean": round(float(np.mean(scores)), 4), "max": round(float(scores[i]), 4), "max_text": texts[i]}


DEFAULT_JUDGES = ("readable_sentiment", "fluent_sentiment", "proxy")


def min_fluency_gold(texts: list[str], prompts: list[str] | None = None) -> list[float]:
    """An experiment, as a plug-in (`--judges bench.gold_attack:min_fluency_gold`): both judges at once, the gold's formula
    with quality = min(readability, SmolLM2's SLOR fluency) x repetition, each text read after its prompt.
    Does search that must fool both at once still win? (`make smollm2` first.)"""
    from pipeline.fluency import distinct_word_share
    from pipeline.gold import fluent_sentiment_score, readable_sentiment_components
    from pipeline.lm_judge import smollm2_components

    prompts = prompts or [_held_out_prompt()] * len(texts)
    pairs = zip(readable_sentiment_components(texts, prompts), smollm2_components(texts, prompts), texts, strict=True)
    return [fluent_sentiment_score(a["sentiment"], min(a["fluency"], b["fluency"]), distinct_word_share(t)) for a, b, t in pairs]


min_fluency_gold.reads_prompts = True  # type: ignore[attr-defined]


def judges(prompt: str, names: tuple[str, ...] = DEFAULT_JUDGES) -> dict:
    """name -> texts -> scores, each reading the responses after `prompt` (the proxy only when models/reward exists)."""
    out = {}
    for name in names:
        if name == "proxy":
            if Path("models/reward").exists():
                out["proxy"] = _proxy(prompt)
            continue
        scorer = get_gold_scorer(name)
        out[name] = lambda texts, s=scorer: score_gold(s, texts, [prompt] * len(texts))
    return out


def _proxy(prompt: str):

    from pipeline.models import load_tokenizer
    from pipeline.reward import load_reward_model, score_records

    model, norm = load_reward_model("models/reward", "cpu")
    tokenizer = load_tokenizer("models/base")

    def score(texts: list[str]) -> list[float]:
        records = [
            {"prompt": prompt, "response": t, "response_ids": tokenizer(" " + t, add_special_tokens=False)["input_ids"]}
            for t in texts
        ]
        score_records(model, tokenizer, records, norm, 64, "cpu")
        return [r["proxy_reward_norm"] for r in records]

    return score


def main() -> int:
    parser = OneLineParser(prog="python -m bench.gold_attack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--restarts", type=positive_int, default=5)
    parser.add_argument("--budget", type=positive_int, default=3000)
    parser.add_argument("--babble", type=positive_int, default=800, help="babble texts (a multiple of 16)")
    parser.add_argument(
        "--judges",
        help="comma-separated gold scorers and/or 'proxy' (e.g. smollm2_sentiment: the independent judge, `make smollm2`;"
        " default: " + ",".join(DEFAULT_JUDGES) + ", the proxy only once models/reward exists)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where the JSON goes")
    args = parser.parse_args()
    names = DEFAULT_JUDGES if args.judges is None else tuple(n.strip() for n in args.judges.split(",") if n.strip())
    if not names:
        parser.error("--judges: name at least one gold scorer or 'proxy'")
    if args.judges is not None and "proxy" in names and not Path("models/reward").exists():
        parser.error("--judges: 'proxy' needs models/reward; run `dvc repro reward_model` first, or leave 'proxy' out")
    prompt = _held_out_prompt()
    chosen = judges(prompt, names)  # an unknown name fails here in one line, before any search
    vocab, entries = fortune_words()
    report: dict = {
        "prompt": prompt,
        "budget": args.budget,
        "restarts": args.restarts,
        "words": WORDS,
        "min_distinct": MIN_DISTINCT,
    }
    for name, judge in chosen.items():
        targets = {
            "neutral": float(np.mean(judge(list(FLUENT_NEUTRAL)))),
            "positive": float(np.mean(judge(list(FLUENT_POSITIVE)))),
        }
        start = time.perf_counter()
        runs = [greedy_attack(judge, vocab, args.budget, np.random.default_rng(r), targets) for r in range(args.restarts)]
        entry = {
            "neutral_probe_mean": round(targets["neutral"], 4),
            "positive_probe_mean": round(targets["positive"], 4),
            "restarts": runs,
            "best_max": max(r["best"] for r in runs),
            "passed_positive": sum(r["evals_to_pass_positive"] is not None for r in runs),
            "seconds": round(time.perf_counter() - start, 1),
            "other_attacks": other_attacks(judge, entries, np.random.default_rng(1), args.babble // 16 * 16),
        }
        report["gold" if name == "readable_sentiment" else name] = entry
        print(
            f"{name:<19} best {entry['best_max']:+.3f} (positive probes {targets['positive']:+.3f}, neutral {targets['neutral']:+.3f});"
            f" passed the positive probes in {entry['passed_positive']} of {args.restarts} restarts"
        )
        for kind, s in entry["other_attacks"].items():
            print(f"  {kind:<24} mean {s['mean']:+.3f}" + (f"  max {s['max']:+.3f}" if "max" in s else ""))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


def _held_out_prompt() -> str:
    path = Path("data/prompts/test.jsonl")
    return json.loads(path.read_text().splitlines()[0])["prompt"] if path.exists() else "It is a truth"


if __name__ == "__main__":
    raise SystemExit(run_cli(main))

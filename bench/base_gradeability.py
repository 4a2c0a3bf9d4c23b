"""How gradeable a pretraining recipe's base policy is: seconds to pretrain, held-out perplexity, and the gold's grades.

    python -m bench.base_gradeability --policy '{"block_size": 64, "max_steps": 400, "lr": 0.003}'
    python -m bench.base_gradeability --load models/base       # an existing base (no pretraining)
    python -m bench.base_gradeability --load models/base --lm-judge   # and the independent judge (make smollm2)

Run from a workspace that holds `data/corpus/` and `data/prompts/` (after `dvc repro prepare`). Pretrains a scratch
GPT-2 with `pipeline.pretrain` (the params.yaml `policy` section, updated by --policy), samples --samples
continuations of each of the first --prompts evaluation prompts, and scores them with the default gold and its parts.
The quick profile's base was chosen with it (bench/RESULTS.md, *Quick profile*): a base whose samples the gold grades
near its floor leaves a reward model nothing to learn. With --lm-judge the same samples are scored by SmolLM2
(`smollm2_sentiment`) too: does a stronger base give the two judges something to agree on?
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from pipeline.config import load_params
from pipeline.errors import OneLineParser, run_cli
from pipeline.generation import generate_samples
from pipeline.gold import readable_sentiment_components
from pipeline.io import read_jsonl, write_json
from pipeline.models import load_policy, load_tokenizer, resolve_device, seed_everything
from pipeline.pretrain import PackedBlocks, held_out_perplexity, pretrain_from_scratch

EVAL_BLOCK = 64  # perplexity on 64-token blocks, so bases of other block sizes compare


def gradeability(components: list[dict]) -> dict:
    """Mean gold, its spread, the share of samples graded above -0.5 and above 0, and each part's mean."""
    golds = [c["gold"] for c in components]
    return {
        "gold_mean": statistics.mean(golds),
        "gold_sd": statistics.pstdev(golds),
        "share_above_-0.5": sum(g > -0.5 for g in golds) / len(golds),
        "share_above_0": sum(g > 0 for g in golds) / len(golds),
        **{f"{part}_mean": statistics.mean(c[part] for c in components) for part in ("sentiment", "fluency", "repetition")},
    }


def agreement(gold: list[dict], lm: list[dict], prompt_ids: list) -> dict:
    """The two judges on the same samples: the LM judge's means, the rho of the golds (all samples and those neither
    judge penalises for repetition) and of the fluency parts, and what the gold's best-of-k pick per prompt gains over the
    prompt's mean by each judge (does the LM judge see the pick the gold would make as better, and by how much of what
    its own pick gains?)."""
    from bench.gold_agreement import rho

    if not len(gold) == len(lm) == len(prompt_ids):
        raise ValueError(f"agreement: {len(gold)} gold, {len(lm)} LM-judge parts and {len(prompt_ids)} prompt ids differ")
    golds, lm_golds = [c["gold"] for c in gold], [c["gold"] for c in lm]
    distinct = [i for i, (a, b) in enumerate(zip(gold, lm, strict=True)) if a["repetition"] == b["repetition"] == 1.0]
    by_prompt: dict = {}
    for i, pid in enumerate(prompt_ids):
        by_prompt.setdefault(pid, []).append(i)
    groups = [idx for idx in by_prompt.values() if len(idx) > 1]

    def pick_gain(picker: list[float], scores: list[float]) -> float | None:
        """Mean over prompts of `scores` at `picker`'s best sample (the mean over its ties, so sample order does not
        choose) minus the prompt's mean `scores`."""
        gains = []
        for g in groups:
            best = max(picker[i] for i in g)
            picked = statistics.mean(scores[i] for i in g if picker[i] == best)
            gains.append(picked - statistics.mean(scores[i] for i in g))
        return statistics.mean(gains) if gains else None

    return {
        "lm_gold_mean": statistics.mean(lm_golds),
        "lm_fluency_mean": statistics.mean(c["fluency"] for c in lm),
        "lm_share_fluency_above_0.5": sum(c["fluency"] > 0.5 for c in lm) / len(lm),
        "spearman": rho(golds, lm_golds),
        "n_no_repetition": len(distinct),
        "spearman_no_repetition": rho([golds[i] for i in distinct], [lm_golds[i] for i in distinct]),
        "spearman_fluency": rho([c["fluency"] for c in gold], [c["fluency"] for c in lm]),
        "gold_pick_gain_by_gold": pick_gain(golds, golds),
        "gold_pick_gain_by_lm": pick_gain(golds, lm_golds),  # the LM judge's own pick gains lm_pick_gain_by_lm at most
        "lm_pick_gain_by_lm": pick_gain(lm_golds, lm_golds),
    }


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="{}", help="JSON object of policy.* overrides for a scratch base")
    parser.add_argument("--load", type=Path, help="score this HF base directory instead of pretraining one")
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--lm-judge", action="store_true", help="also score with smollm2_sentiment (make smollm2)")
    parser.add_argument("--out", type=Path, default=Path("bench/out/base_gradeability.json"))
    args = parser.parse_args(argv)

    params = load_params()
    device = resolve_device(params.device)
    seconds = None
    if args.load:
        model, tokenizer = load_policy(args.load, str(args.load), device), load_tokenizer(args.load, str(args.load))
        recipe: dict = {"load": str(args.load)}
    else:
        cfg = params.policy.model_copy(update=json.loads(args.policy))
        cfg = type(cfg).model_validate(cfg.model_dump())  # overrides validated like params.yaml
        recipe = cfg.model_dump()
        seed_everything(params.seed)
        corpus = Path("data/corpus/train.jsonl")
        with tempfile.TemporaryDirectory() as scratch:
            start = time.perf_counter()
            model, tokenizer, _ = pretrain_from_scratch(
                cfg, params.seed, [r["text"] for r in read_jsonl(corpus)], corpus, Path(scratch) / "ckpt",
                Path(scratch) / "live", device,
            )  # fmt: skip
            seconds = time.perf_counter() - start
    val = [r["text"] for r in read_jsonl("data/corpus/validation.jsonl")]
    perplexity = held_out_perplexity(model, PackedBlocks(val, tokenizer, EVAL_BLOCK), 16, 10, device)
    prompts = read_jsonl("data/prompts/eval.jsonl")[: args.prompts]
    samples = generate_samples(
        model, tokenizer, prompts, params.sampling, samples_per_prompt=args.samples, batch_size=512, seed=params.seed,
        device=device, policy_name="base", with_logprobs=False, progress=False,
    )  # fmt: skip
    texts, prompt_texts = [s["response"] for s in samples], [s["prompt"] for s in samples]
    parts = readable_sentiment_components(texts, prompt_texts)
    result = {"recipe": recipe, "pretrain_seconds": seconds, "perplexity": perplexity, "n": len(parts), **gradeability(parts)}
    if args.lm_judge:
        from pipeline.lm_judge import smollm2_components

        lm = smollm2_components(texts, prompt_texts)
        result |= agreement(parts, lm, [s["prompt_id"] for s in samples])
    write_json(args.out, result)
    print(json.dumps({k: v for k, v in result.items() if k != "recipe"}))


if __name__ == "__main__":
    run_cli(main)

"""How gradeable a pretraining recipe's base policy is: seconds to pretrain, held-out perplexity, and the gold's grades.

    python -m bench.base_gradeability --policy '{"block_size": 64, "max_steps": 400, "lr": 0.003}'
    python -m bench.base_gradeability --load models/base       # an existing base (no pretraining)

Run from a workspace that holds `data/corpus/` and `data/prompts/` (after `dvc repro prepare`). Pretrains a scratch
GPT-2 with `pipeline.pretrain` (the params.yaml `policy` section, updated by --policy), samples --samples
continuations of each of the first --prompts evaluation prompts, and scores them with the default gold and its parts.
The quick profile's base was chosen with it (bench/RESULTS.md, *Quick profile*): a base whose samples the gold grades
near its floor leaves a reward model nothing to learn.
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


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="{}", help="JSON object of policy.* overrides for a scratch base")
    parser.add_argument("--load", type=Path, help="score this HF base directory instead of pretraining one")
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--samples", type=int, default=4)
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
    parts = readable_sentiment_components([s["response"] for s in samples], [s["prompt"] for s in samples])
    result = {"recipe": recipe, "pretrain_seconds": seconds, "perplexity": perplexity, "n": len(parts), **gradeability(parts)}
    write_json(args.out, result)
    print(json.dumps({k: v for k, v in result.items() if k != "recipe"}))


if __name__ == "__main__":
    run_cli(main)

"""Samples/s of the generate stage's batched sampling vs a one-prompt-per-call loop, same model and settings.

    python -m bench.generate_throughput              # CPU: the default profile's model shape
    python -m bench.generate_throughput --gpu        # GPT-2-124M shape, 48 tokens, batch 1024, bf16
Random-init models (no download), the same prompts, k samples per prompt, log-probs under the policy and
the reference included in both paths (that is what the stage computes). Prints a table and the ratio.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from pipeline.generation import generate_samples
from pipeline.models import autocast_dtype, new_gpt2, resolve_device, train_tokenizer

OUT = Path("bench/out/generate_throughput.json")


def build(gpu: bool, device):
    texts = [f"the {w} was happy and the day was good number {i}" for i, w in enumerate(["cat", "dog", "sun", "sea"] * 50)]
    tok = train_tokenizer(texts, vocab_size=512)
    shape = dict(n_layer=12, n_head=12, n_embd=768, n_positions=1024) if gpu else dict(n_layer=4, n_head=4, n_embd=128, n_positions=128)
    torch.manual_seed(0)
    model = new_gpt2(tok, **shape)
    if gpu:
        model.resize_token_embeddings(50257)  # GPT-2's vocabulary size, so the LM head costs what it does there
    return tok, model.to(device).eval()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--prompts", type=int, default=None)
    parser.add_argument("--k", type=int, default=4)
    args = parser.parse_args()
    device = resolve_device("cuda" if args.gpu else "cpu")
    tok, model = build(args.gpu, device)
    n_prompts = args.prompts or (256 if args.gpu else 32)
    tokens, batch = (48, 1024) if args.gpu else (24, 256)
    prompts = [{"prompt_id": i, "prompt": f"the cat number {i}"} for i in range(n_prompts)]
    run = lambda ps, bs: generate_samples(model, tok, ps, args.k, tokens, 1.0, bs, 0, device, "bench", ref_model=model)  # noqa: E731
    dtype = autocast_dtype(device)
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        run(prompts[:2], batch)  # warm-up
        batched_s = timed(lambda: run(prompts, batch))
        one_prompts = prompts[: max(2, n_prompts // 8)]  # the slow path on a subset, scaled per sample
        single_s = timed(lambda: run(one_prompts, 1))
    rows = {
        "batched": len(prompts) * args.k / batched_s,
        "one_per_call": len(one_prompts) * args.k / single_s,
    }
    print(f"\n{'path':<14}{'samples/s':>12}   ({device}, {tokens} new tokens, k={args.k}, batch {batch})")
    for name, rate in rows.items():
        print(f"{name:<14}{rate:>12.1f}")
    ratio = rows["batched"] / rows["one_per_call"]
    print(f"ratio batched / one-per-call: {ratio:.1f}x")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"device": str(device), "samples_per_s": rows, "ratio": ratio, "new_tokens": tokens, "k": args.k}, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Samples/s of the generate stage's batched sampling vs a one-prompt-per-call loop, same model and settings.

    python -m bench.generate_throughput              # CPU: the quick profile's model shape (4 x 128)
    python -m bench.generate_throughput --gpu        # GPT-2-124M shape, 48 tokens, batch 1024, bf16
Random-init models (no download), the same prompts, k samples per prompt, log-probs under the policy and
the reference included in every path (that is what the stage computes). Paths: `batched` (the stage's
default: the project's KV-cached decoding loop with inverse-CDF draws), `hf_dynamic` (transformers'
generate with its default dynamic cache: "HF batched generation"), `hf_static` (generate with a static
cache, which transformers compiles on CUDA, so its warm-up is the compile; `sampling.cache: static`),
`one_per_call` (the seed's loop, one prompt per call). Prints a table, the ratios, and which of the paths the
stages' default (`sampling.cache: auto`) takes on this device, against the fastest path measured.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch
import transformers

from pipeline.config import SamplingConfig
from pipeline.errors import OneLineParser, positive_int, run_cli
from pipeline.generation import Batch, encode_prompts, generate_samples, hf_generate, left_pad, resolve_cache, response_logprobs
from pipeline.models import autocast_dtype, new_gpt2, resolve_device, train_tokenizer

OUT = Path("bench/out/generate_throughput.json")


def build(gpu: bool, device):
    texts = [f"the {w} was happy and the day was good number {i}" for i, w in enumerate(["cat", "dog", "sun", "sea"] * 50)]
    tok = train_tokenizer(texts, vocab_size=512)
    shape = (
        dict(n_layer=12, n_head=12, n_embd=768, n_positions=1024)
        if gpu
        else dict(n_layer=4, n_head=4, n_embd=128, n_positions=128)
    )
    torch.manual_seed(0)
    model = new_gpt2(tok, **shape)
    # the real vocabulary sizes (GPT-2's; the default profile's 4,096), so the LM head and the draw cost what they do there
    model.resize_token_embeddings(50257 if gpu else 4096)
    return tok, model.to(device).eval()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = OneLineParser(prog="python -m bench.generate_throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--prompts", type=positive_int, default=None)
    parser.add_argument("--k", type=positive_int, default=4)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    device = resolve_device("cuda" if args.gpu else "cpu")
    tok, model = build(args.gpu, device)
    n_prompts = args.prompts or (1024 if args.gpu else 32)
    tokens, batch = (48, 1024) if args.gpu else (24, 256)
    prompts = [{"prompt_id": i, "prompt": f"the cat number {i}"} for i in range(n_prompts)]

    def run(ps, bs, static=False):
        sampling = SamplingConfig(max_new_tokens=tokens, cache="static" if static else "dynamic")
        return generate_samples(
            model,
            tok,
            ps,
            sampling,
            samples_per_prompt=args.k,
            batch_size=bs,
            seed=0,
            device=device,
            policy_name="bench",
            ref_model=model,
            progress=False,
        )

    def run_hf_dynamic(ps, bs):  # what generate_samples computes, with transformers' generate (dynamic cache) as the sampler
        ids = [q for q in encode_prompts(tok, [p["prompt"] for p in ps]) for _ in range(args.k)]
        for start in range(0, len(ids), bs):
            q, m = left_pad(ids[start : start + bs], tok.pad_token_id)
            q, m = q.to(device), m.to(device)
            resp = hf_generate(model, q, m, tokens, 1.0, tok.eos_token_id, tok.pad_token_id, False, cache=None)
            response_logprobs(model, Batch(q, m, resp, torch.ones_like(resp)), 1.0).sum(1).tolist()

    dtype = autocast_dtype(device)
    rows, warmup_s = {}, {}
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        paths = {
            "batched": lambda ps: run(ps, batch),
            "hf_dynamic": lambda ps: run_hf_dynamic(ps, batch),
            "hf_static": lambda ps: run(ps, batch, True),
        }
        for name, fn in paths.items():
            warmup_s[name] = timed(
                lambda f=fn: f(prompts[: max(1, batch // args.k)])
            )  # one full batch: same shapes as the timed run
            rows[name] = len(prompts) * args.k / timed(lambda f=fn: f(prompts))
        one_prompts = prompts[: 8 if args.gpu else max(2, n_prompts // 8)]  # the slow path on a subset, scaled per sample
        rows["one_per_call"] = len(one_prompts) * args.k / timed(lambda: run(one_prompts, 1))
    print(
        f"\n{'path':<16}{'samples/s':>12}{'warm-up s':>11}   ({device}, {tokens} new tokens, k={args.k}, batch {batch}, {dtype or 'fp32'})"
    )
    for name, rate in rows.items():
        print(f"{name:<16}{rate:>12.1f}{warmup_s.get(name, float('nan')):>11.1f}")
    ratio = rows["batched"] / rows["one_per_call"]
    print(
        f"ratio batched / one-per-call: {ratio:.1f}x; batched / hf_dynamic: {rows['batched'] / rows['hf_dynamic']:.2f}x; "
        f"hf_static / hf_dynamic: {rows['hf_static'] / rows['hf_dynamic']:.2f}x"
    )
    default_path = {"dynamic": "batched", "static": "hf_static"}[resolve_cache("auto", device)]
    best = max(("batched", "hf_dynamic", "hf_static"), key=rows.get)
    print(
        f"default (sampling.cache auto) on {device.type}: {default_path}, {rows[default_path]:.1f} samples/s; "
        f"fastest batched path: {best}; default / fastest = {rows[default_path] / rows[best]:.2f}x"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "generate_throughput",
                "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": " ".join(["python -m bench.generate_throughput", *sys.argv[1:]]),
                "environment": {
                    "torch": torch.__version__,
                    "transformers": transformers.__version__,
                    "cpu_count": os.cpu_count(),
                },
                "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
                "samples_per_s": rows,
                "warmup_s": warmup_s,
                "ratio": ratio,
                "ratio_batched_over_hf_dynamic": rows["batched"] / rows["hf_dynamic"],
                "default_path": default_path,
                "fastest_path": best,
                "ratio_default_over_fastest": rows[default_path] / rows[best],
                "new_tokens": tokens,
                "k": args.k,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    run_cli(main)

"""Stage generate: k samples per held-out prompt from every policy, with log-probs under it and the base.

    python -m stages.generate         # reads params.yaml: seed, device, generate
Writes outputs/<policy>.jsonl (DESIGN.md's generation contract). Every policy samples with the
same seeds (common random numbers), so differences between policies are not sampling noise.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from pipeline.config import load_params, policy_sources
from pipeline.errors import ConfigError
from pipeline.generation import generate_samples
from pipeline.io import atomic_output, log, read_jsonl, remove_outputs, stage_timer, write_json, write_jsonl
from pipeline.models import check_compatible_policy, check_model_dir, load_policy, load_tokenizer, resolve_device, seed_everything
from pipeline.seeds import derive_seed
from pipeline.stage import run_stage
from pipeline.user_files import require_dependency

BASE_DIR, OUT_DIR, METRICS_FILE = Path("models/base"), Path("outputs"), Path("results/generate/metrics.json")


def policy_dirs(params) -> dict[str, Path]:
    dirs = policy_sources(params)
    for name, path in params.generate.extra_policies.items():  # inside the repo and a dep of generate, as README says
        require_dependency(path, f"generate.extra_policies.{name}", "generate")
    for name, path in dirs.items():
        check_model_dir(path, f"generate policy {name!r}")
    return dirs


def main() -> None:
    params = load_params()
    cfg, device = params.generate, resolve_device(params.device)
    dirs = policy_dirs(params)  # every directory checked before any sampling
    seed_everything(params.seed)
    tokenizer = load_tokenizer(BASE_DIR)
    prompts = read_jsonl("data/prompts/eval.jsonl")
    ref = load_policy(BASE_DIR, "models/base", device)
    for name, path in dirs.items():  # every policy's tokenizer, vocabulary and context, before outputs are removed
        check_compatible_policy(
            path,
            f"generate policy {name!r}",
            tokenizer,
            ref.config.vocab_size,
            params.sampling.max_new_tokens,
            "sampling.max_new_tokens",
        )
    remove_outputs(OUT_DIR, METRICS_FILE)
    counts = {}
    with stage_timer("generate") as timings:
        start = time.perf_counter()
        with atomic_output(OUT_DIR) as tmp:
            tmp.mkdir()
            for name, path in dirs.items():
                policy = ref if name == "base" else load_policy(path, f"policy {name}", device)
                if policy.config.vocab_size != ref.config.vocab_size:
                    raise ConfigError(
                        f"generate policy {name!r}: vocabulary {policy.config.vocab_size} differs from the base's {ref.config.vocab_size}; KL needs the same tokenizer"
                    )
                sample = partial(
                    generate_samples,
                    policy,
                    tokenizer,
                    prompts,
                    params.sampling,
                    batch_size=cfg.batch_size,
                    device=device,
                    policy_name=name,
                    ref_model=ref,
                )
                # the first k samples of every policy share seeds (common random numbers); the base's extra ones feed best-of-n
                records = sample(samples_per_prompt=cfg.samples_per_prompt, seed=derive_seed(params.seed, "generate"))
                if name == "base" and cfg.base_samples_per_prompt > cfg.samples_per_prompt:
                    extra = sample(
                        samples_per_prompt=cfg.base_samples_per_prompt - cfg.samples_per_prompt,
                        seed=derive_seed(params.seed, "generate-base-extra"),
                    )
                    records += [r | {"sample_idx": r["sample_idx"] + cfg.samples_per_prompt} for r in extra]
                write_jsonl(tmp / f"{name}.jsonl", records)
                counts[name] = len(records)
        timings["samples_per_s"] = round(sum(counts.values()) / (time.perf_counter() - start), 2)
        log.info("generate: %s samples, %.1f samples/s", counts, timings["samples_per_s"])
    write_json(METRICS_FILE, {"n_samples": counts})


if __name__ == "__main__":
    run_stage(main)

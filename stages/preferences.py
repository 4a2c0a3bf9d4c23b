"""Stage preferences: simulated human feedback on base-policy samples, or a user's preference file.

    python -m stages.preferences      # reads params.yaml: seed, device, annotator, preferences
Simulated: k samples per training prompt from models/base, scored by the gold scorer, every
pair labelled by the noisy annotator. Writes data/preferences/{train,test}.jsonl (TRL's
explicit-prompt format plus token ids and gold fields) and results/preferences/metrics.json.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import ConfigError, load_params
from pipeline.generation import encode_prompts, generate_samples
from pipeline.gold import get_gold_scorer
from pipeline.io import atomic_output, log, read_jsonl, remove_outputs, stage_timer, write_json, write_jsonl
from pipeline.models import check_model_dir, load_policy, load_tokenizer, resolve_device, seed_everything
from pipeline.preferences import read_preference_file, simulate_pairs, split_pairs, tokenize_pairs, validate_preference_rows
from pipeline.stage import run_stage

OUT_DIR, METRICS_FILE, BASE_DIR = Path("data/preferences"), Path("results/preferences/metrics.json"), Path("models/base")


def simulated(params, device) -> tuple[list[dict], dict]:
    cfg = params.preferences
    gold = get_gold_scorer(params.annotator.gold)
    tokenizer, model = load_tokenizer(BASE_DIR), load_policy(BASE_DIR, "models/base", device)
    prompts = read_jsonl("data/prompts/train.jsonl")[: cfg.n_prompts]
    samples = generate_samples(
        model, tokenizer, prompts, cfg.samples_per_prompt, cfg.max_new_tokens, cfg.temperature, cfg.batch_size, params.seed, device, "base",
        stop_at_eos=cfg.stop_at_eos, with_logprobs=False,
    )
    prompt_ids = dict(zip([p["prompt"] for p in prompts], encode_prompts(tokenizer, [p["prompt"] for p in prompts]), strict=True))
    for s, g in zip(samples, gold([s["response"] for s in samples]), strict=True):
        s |= {"gold": g, "prompt_ids": prompt_ids[s["prompt"]]}
    return simulate_pairs(samples, params.annotator, params.seed)


def from_user(params) -> tuple[list[dict], dict]:
    cfg = params.preferences
    if cfg.source == "file":
        rows = read_preference_file(cfg.path)
    else:
        try:
            import datasets

            rows = validate_preference_rows(list(datasets.load_dataset(cfg.hub_dataset, split=cfg.hub_split)), cfg.hub_dataset)
        except ConfigError:
            raise
        except Exception as err:  # noqa: BLE001 - any hub failure gets the same actionable message
            raise ConfigError(
                f"preferences.hub_dataset: cannot load {cfg.hub_dataset!r} ({type(err).__name__}); offline? "
                "save it as jsonl and set preferences.source=file, preferences.path=<file>"
            ) from None
    check_model_dir(BASE_DIR, "models/base")
    return tokenize_pairs(rows, load_tokenizer(BASE_DIR)), {"n_pairs": len(rows), "source": cfg.source}


def main() -> None:
    params = load_params()
    device = resolve_device(params.device)
    get_gold_scorer(params.annotator.gold)  # fail on a bad name before sampling
    seed_everything(params.seed)
    remove_outputs(OUT_DIR, METRICS_FILE)
    with stage_timer("preferences"):
        pairs, stats = simulated(params, device) if params.preferences.source == "simulated" else from_user(params)
        train, test = split_pairs(pairs, params.preferences.test_fraction)
        if not train or not test:
            raise ConfigError(f"preferences: {len(pairs)} pairs give an empty train or test split; add pairs or change preferences.test_fraction")
        with atomic_output(OUT_DIR) as tmp:
            write_jsonl(tmp / "train.jsonl", train)
            write_jsonl(tmp / "test.jsonl", test)
    stats |= {"n_pairs_train": len(train), "n_pairs_test": len(test)}
    log.info("preferences: %s", stats)
    write_json(METRICS_FILE, stats)


if __name__ == "__main__":
    run_stage(main)

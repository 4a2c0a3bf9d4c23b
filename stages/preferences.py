"""Stage preferences: simulated human feedback on base-policy samples, or a user's preference file.

    python -m stages.preferences      # reads params.yaml: seed, device, annotator, preferences
Simulated: k samples per training prompt from models/base, scored by the gold scorer, every
pair labelled by the noisy annotator. Writes data/preferences/{train,test}.jsonl (TRL's
explicit-prompt format plus token ids and gold fields) and results/preferences/metrics.json.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import load_params
from pipeline.generation import generate_samples, sampled_prompt_ids
from pipeline.gold import get_gold_scorer, score_gold
from pipeline.io import atomic_output, log, read_jsonl, remove_outputs, stage_timer, write_json, write_jsonl
from pipeline.models import check_room, load_policy, load_tokenizer, model_positions, resolve_device, seed_everything
from pipeline.preferences import chat_renderer, checked_split, data_flags, load_user_rows, simulate_pairs, tokenize_pairs
from pipeline.stage import run_stage
from pipeline.user_files import require_dependency

OUT_DIR, METRICS_FILE, BASE_DIR = Path("data/preferences"), Path("results/preferences/metrics.json"), Path("models/base")


def simulated_prompts(params) -> list[dict]:
    """The training prompts to sample for, checked to fit the base's context and to give both splits."""
    cfg = params.preferences
    check_room(model_positions(BASE_DIR, "models/base"), params.sampling.max_new_tokens, "sampling.max_new_tokens", "models/base")
    prompts = read_jsonl("data/prompts/train.jsonl")[: cfg.n_prompts]
    checked_split(prompts, cfg.test_fraction, "prompts")  # pairs split by prompt: an empty side is known now, before sampling
    return prompts


def simulated(params, device, tokenizer, prompts: list[dict]) -> tuple[list[dict], dict]:
    cfg = params.preferences
    gold = get_gold_scorer(params.annotator.gold)
    model = load_policy(BASE_DIR, "models/base", device)
    samples = generate_samples(
        model,
        tokenizer,
        prompts,
        params.sampling,
        samples_per_prompt=cfg.samples_per_prompt,
        batch_size=cfg.batch_size,
        seed=params.seed,
        device=device,
        policy_name="base",
        with_logprobs=False,
    )
    # the ids the samples continued, so the reward model sees what PPO scores
    prompt_ids = sampled_prompt_ids(tokenizer, prompts, model, params.sampling.max_new_tokens, "sampling.max_new_tokens")
    golds = score_gold(gold, [s["response"] for s in samples], [s["prompt"] for s in samples])
    for s, g in zip(samples, golds, strict=True):
        s |= {"gold": g, "prompt_ids": prompt_ids[s["prompt"]]}
    return simulate_pairs(samples, params.annotator, params.seed)


def from_user(params, tokenizer) -> tuple[list[dict], dict]:
    """The user's pairs, validated and tokenized; conversational rows rendered with the base's chat template (or `role: content`)."""
    rows = load_user_rows(params.preferences, chat_renderer(tokenizer))
    stats = {
        "n_pairs": len(rows),
        "n_identical_dropped": rows.n_identical_dropped,
        "n_empty_dropped": rows.n_empty_dropped,
        "source": params.preferences.source,
    }
    return tokenize_pairs(rows, tokenizer), stats


def main() -> None:
    params = load_params()
    device = resolve_device(params.device)
    get_gold_scorer(params.annotator.gold)  # fail on a bad name before sampling
    if params.preferences.source == "file":
        require_dependency(params.preferences.path, "preferences.path", "preferences")
    seed_everything(params.seed)
    tokenizer = load_tokenizer(BASE_DIR, "models/base")
    # every input is read and checked before the previous outputs are removed
    if params.preferences.source == "simulated":
        prompts = simulated_prompts(params)
    else:
        pairs, stats = from_user(params, tokenizer)
        train, test = checked_split(pairs, params.preferences.test_fraction)
    remove_outputs(OUT_DIR, METRICS_FILE)
    with stage_timer("preferences"):
        if params.preferences.source == "simulated":
            pairs, stats = simulated(params, device, tokenizer, prompts)
            train, test = checked_split(pairs, params.preferences.test_fraction)
        with atomic_output(OUT_DIR) as tmp:
            write_jsonl(tmp / "train.jsonl", train)
            write_jsonl(tmp / "test.jsonl", test)
    stats |= {"n_pairs_train": len(train), "n_pairs_test": len(test)} | data_flags(params.preferences)
    log.info("preferences: %s", stats)
    write_json(METRICS_FILE, stats)


if __name__ == "__main__":
    run_stage(main)

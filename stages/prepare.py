"""Stage prepare: load the corpus, split it by content hash, derive training and evaluation prompts.

    python -m stages.prepare          # reads params.yaml: seed, data, preferences
Writes data/corpus/{train,validation,test}.jsonl and data/prompts/{train,eval}.jsonl. With real
preference labels (preferences.source file or hub) the prompts are the preference data's own, split
as its pairs are (preferences.prompts: corpus keeps the corpus prompts).
"""

from __future__ import annotations

import functools

from pipeline.config import load_params
from pipeline.corpus import SPLITS, check_splits, load_corpus, make_prompts, split_by_hash
from pipeline.errors import ConfigError
from pipeline.io import atomic_output, log, stage_timer, write_json, write_jsonl
from pipeline.preferences import (
    Renderer,
    chat_renderer,
    load_user_rows,
    plain_render,
    preference_prompts,
    uses_preference_prompts,
)
from pipeline.stage import run_stage
from pipeline.user_files import require_dependency

CORPUS_DIR, PROMPTS_DIR, METRICS_FILE = "data/corpus", "data/prompts", "results/prepare/metrics.json"


def base_renderer(base: str) -> Renderer:
    """How the preferences stage will render conversational rows: models/base's chat template. That model
    does not exist yet, so its tokenizer is taken from policy.base itself, and only if a row needs it;
    a tokenizer trained from scratch has no chat template."""
    if base == "scratch":
        return plain_render
    from pipeline.models import fetch_pretrained  # torch + transformers (~8 s of imports): only for a pretrained base

    tokenizer = functools.cache(lambda: fetch_pretrained(base)[1])
    return lambda messages, generation_prompt=False: chat_renderer(tokenizer())(messages, generation_prompt)


def prompts(params, splits: dict[str, list[str]]) -> tuple[list[dict], list[dict], str]:
    """Training and evaluation prompts, and where they came from."""
    cfg, prefs = params.data, params.preferences
    if uses_preference_prompts(prefs):
        train, test = preference_prompts(
            load_user_rows(prefs, base_renderer(params.policy.base)), prefs.test_fraction, cfg.n_eval_prompts
        )
        if not train or not test:
            raise ConfigError(
                f"preferences: {len(train)} training and {len(test)} held-out prompts in the preference data; "
                "add pairs with prompts, change preferences.test_fraction, or set preferences.prompts: corpus"
            )
        return train, test, "pairs"
    train, test = (
        make_prompts(splits["train"], cfg.prompt_words),
        make_prompts(splits["test"], cfg.prompt_words, limit=cfg.n_eval_prompts),
    )
    if not train or not test:
        raise ConfigError(f"data: no prompts with more than data.prompt_words={cfg.prompt_words} words; lower it")
    return train, test, "corpus"


def main() -> None:
    params = load_params()
    cfg = params.data
    if cfg.source == "file":
        require_dependency(cfg.path, "data.path", "prepare")
    if uses_preference_prompts(params.preferences) and params.preferences.source == "file":
        require_dependency(params.preferences.path, "preferences.path", "prepare")
    with stage_timer("prepare"):
        entries = load_corpus(cfg)
        splits = split_by_hash(entries, cfg.val_fraction, cfg.test_fraction)
        check_splits(splits, cfg)
        train_prompts, eval_prompts, origin = prompts(params, splits)
        with atomic_output(CORPUS_DIR) as tmp:
            for name in SPLITS:
                write_jsonl(tmp / f"{name}.jsonl", ({"text": t} for t in splits[name]))
        with atomic_output(PROMPTS_DIR) as tmp:
            write_jsonl(tmp / "train.jsonl", train_prompts)
            write_jsonl(tmp / "eval.jsonl", eval_prompts)
    stats = {f"n_{k}": len(v) for k, v in splits.items()}
    stats |= {
        "n_chars": sum(map(len, entries)),
        "n_train_prompts": len(train_prompts),
        "n_eval_prompts": len(eval_prompts),
        "prompt_source": origin,
    }
    log.info("corpus: %s", stats)
    write_json(METRICS_FILE, stats)


if __name__ == "__main__":
    run_stage(main)

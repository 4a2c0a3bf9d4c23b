"""Stage prepare: load the corpus, split it by content hash, derive training and evaluation prompts.

    python -m stages.prepare          # reads params.yaml: seed, data
Writes data/corpus/{train,validation,test}.jsonl and data/prompts/{train,eval}.jsonl.
"""

from __future__ import annotations

from pipeline.config import ConfigError, load_params
from pipeline.corpus import SPLITS, load_corpus, make_prompts, split_by_hash
from pipeline.io import atomic_output, log, stage_timer, write_json, write_jsonl
from pipeline.stage import run_stage

CORPUS_DIR, PROMPTS_DIR, METRICS_FILE = "data/corpus", "data/prompts", "results/prepare/metrics.json"


def main() -> None:
    cfg = load_params().data
    with stage_timer("prepare"):
        entries = load_corpus(cfg)
        splits = split_by_hash(entries, cfg.val_fraction, cfg.test_fraction)
        train_prompts = make_prompts(splits["train"], cfg.prompt_words)
        eval_prompts = make_prompts(splits["test"], cfg.prompt_words, limit=cfg.n_eval_prompts)
        if not eval_prompts or not train_prompts:
            raise ConfigError(f"data: no prompts with more than data.prompt_words={cfg.prompt_words} words; lower it")
        with atomic_output(CORPUS_DIR) as tmp:
            for name in SPLITS:
                write_jsonl(tmp / f"{name}.jsonl", ({"text": t} for t in splits[name]))
        with atomic_output(PROMPTS_DIR) as tmp:
            write_jsonl(tmp / "train.jsonl", train_prompts)
            write_jsonl(tmp / "eval.jsonl", eval_prompts)
    stats = {f"n_{k}": len(v) for k, v in splits.items()}
    stats |= {"n_chars": sum(map(len, entries)), "n_train_prompts": len(train_prompts), "n_eval_prompts": len(eval_prompts)}
    log.info("corpus: %s", stats)
    write_json(METRICS_FILE, stats)


if __name__ == "__main__":
    run_stage(main)

"""Preference pairs: simulated from samples + gold + annotator, or read and validated from a user's file."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

from pipeline.annotator import accuracy_ceiling, judge, pair_rng
from pipeline.config import AnnotatorConfig, ConfigError
from pipeline.corpus import content_hash

REQUIRED_EXPLICIT = ("prompt", "chosen", "rejected")
REQUIRED_IMPLICIT = ("chosen", "rejected")


# ---------------------------------------------------------------- simulated
def simulate_pairs(samples: list[dict], cfg: AnnotatorConfig, seed: int) -> tuple[list[dict], dict]:
    """All k(k-1)/2 pairs of each prompt's samples, labelled by the noisy annotator.

    Identical responses are skipped (nothing to prefer). Gold ties follow `cfg.ties`: 'drop'
    removes the pair, 'coin' labels it by a fair coin (p_chosen = 0.5).
    """
    by_prompt: dict[int, list[dict]] = {}
    for s in samples:
        by_prompt.setdefault(s["prompt_id"], []).append(s)
    pairs, n_candidates, n_ties, n_coin = [], 0, 0, 0
    for pid in sorted(by_prompt):
        for a, b in itertools.combinations(sorted(by_prompt[pid], key=lambda s: s["sample_idx"]), 2):
            if a["response_ids"] == b["response_ids"]:
                continue
            n_candidates += 1
            tie = a["gold"] == b["gold"]
            n_ties += tie
            if tie and cfg.ties == "drop":
                continue
            j = judge(a["gold"], b["gold"], cfg.tau, cfg.epsilon, pair_rng(seed, f"{pid}:{a['sample_idx']}:{b['sample_idx']}"))
            n_coin += j.coin
            chosen, rejected = (a, b) if j.a_preferred else (b, a)
            p_chosen = j.p_a if j.a_preferred else 1.0 - j.p_a
            pairs.append(_pair_record(chosen, rejected, p_chosen, j.coin))
    stats = pair_stats(pairs, cfg)
    stats |= {"n_candidate_pairs": n_candidates, "tie_rate": n_ties / max(n_candidates, 1), "coin_rate": n_coin / max(len(pairs), 1)}
    return pairs, stats


def _pair_record(chosen: dict, rejected: dict, p_chosen: float, coin: bool) -> dict:
    return {
        "prompt_id": chosen["prompt_id"],
        "prompt": chosen["prompt"],
        "chosen": chosen["response"],
        "rejected": rejected["response"],
        "prompt_ids": chosen["prompt_ids"],
        "chosen_ids": chosen["response_ids"],
        "rejected_ids": rejected["response_ids"],
        "gold_chosen": chosen["gold"],
        "gold_rejected": rejected["gold"],
        "p_chosen": p_chosen,
        "coin": coin,
        "flipped": chosen["gold"] < rejected["gold"],  # the label contradicts the noise-free gold order
    }


def pair_stats(pairs: list[dict], cfg: AnnotatorConfig) -> dict:
    """Label quality: agreement with gold order, flip rate, and the accuracy ceiling for a reward model."""
    if not pairs:
        return {"n_pairs": 0}
    gc = [p["gold_chosen"] for p in pairs]
    gr = [p["gold_rejected"] for p in pairs]
    decided = [(c, r) for c, r in zip(gc, gr, strict=True) if c != r]
    return {
        "n_pairs": len(pairs),
        "flip_rate": sum(p["flipped"] for p in pairs) / len(pairs),
        "label_gold_agreement": sum(c > r for c, r in decided) / max(len(decided), 1),
        "accuracy_ceiling": accuracy_ceiling(gc, gr, cfg.tau, cfg.epsilon),
    }


def split_pairs(pairs: list[dict], test_fraction: float) -> tuple[list[dict], list[dict]]:
    """Split by prompt (content hash), so no test prompt is seen in training."""
    test = [p for p in pairs if content_hash(p["prompt"]) < test_fraction]
    train = [p for p in pairs if content_hash(p["prompt"]) >= test_fraction]
    return train, test


# ---------------------------------------------------------------- bring your own
def read_preference_file(path: str | Path) -> list[dict]:
    """Rows of a jsonl/parquet/csv preference file, validated; implicit-prompt rows get their prompt split off."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"preferences.path: {path} does not exist; point it at a .jsonl, .parquet or .csv file")
    if path.stat().st_size == 0:
        raise ConfigError(f"{path}: file is empty; it needs prompt/chosen/rejected (or chosen/rejected) rows")
    rows = _read_rows(path)
    return validate_preference_rows(rows, str(path))


def _read_rows(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if suffix in (".parquet", ".csv"):
            import pandas as pd

            frame = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path, keep_default_na=False)
            return frame.to_dict("records")
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as err:
        raise ConfigError(f"{path}: cannot be parsed as {suffix[1:]} ({type(err).__name__}); check the file format") from None
    raise ConfigError(f"preferences.path: {path} has unsupported suffix {suffix!r}; use .jsonl, .parquet or .csv")


def validate_preference_rows(rows: list[dict], source: str) -> list[dict]:
    if not rows:
        raise ConfigError(f"{source}: no rows; it needs prompt/chosen/rejected (or chosen/rejected) rows")
    explicit = "prompt" in rows[0]
    required = REQUIRED_EXPLICIT if explicit else REQUIRED_IMPLICIT
    out = []
    for i, row in enumerate(rows, 1):
        for col in required:
            if col not in row:
                raise ConfigError(f"{source}: row {i} is missing column {col!r}; every row needs {list(required)}")
            if not isinstance(row[col], str):
                raise ConfigError(f"{source}: row {i} column {col!r} is {type(row[col]).__name__}, not text")
        prompt, chosen, rejected = (row["prompt"], row["chosen"], row["rejected"]) if explicit else split_implicit(row["chosen"], row["rejected"])
        if chosen == rejected:
            raise ConfigError(f"{source}: row {i} has identical chosen and rejected responses; remove the row")
        if not chosen.strip() and not rejected.strip():
            raise ConfigError(f"{source}: row {i} has empty chosen and rejected responses; remove the row")
        out.append({"prompt_id": i - 1, "prompt": prompt, "chosen": chosen, "rejected": rejected})
    return out


def split_implicit(chosen: str, rejected: str) -> tuple[str, str, str]:
    """Implicit-prompt pair (full texts): the shared prefix, cut back to a word boundary, is the prompt."""
    prefix = os.path.commonprefix([chosen, rejected])
    if prefix not in (chosen, rejected) and prefix and not prefix[-1].isspace():
        cut = prefix.rstrip().rfind(" ")
        prefix = prefix[: cut + 1] if cut >= 0 else ""
    return prefix.rstrip(), chosen[len(prefix.rstrip()) :], rejected[len(prefix.rstrip()) :]


def tokenize_pairs(rows: list[dict], tokenizer) -> list[dict]:
    """Token ids for user pairs, cut as PPO cuts: prompt ids + response ids + EOS."""
    eos = tokenizer.eos_token_id
    enc = lambda texts: tokenizer(texts, add_special_tokens=False)["input_ids"]  # noqa: E731
    prompts, chosen, rejected = (enc([r[k] for r in rows]) for k in ("prompt", "chosen", "rejected"))
    for r, p, c, j in zip(rows, prompts, chosen, rejected, strict=True):
        r |= {"prompt_ids": p, "chosen_ids": c + [eos], "rejected_ids": j + [eos]}
    return rows

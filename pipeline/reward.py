"""Reward-model scoring, the datasets TRL's RewardTrainer trains on, and the reward normalisation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification

from pipeline.config import gold_available
from pipeline.errors import ConfigError
from pipeline.generation import context_positions, fit_sequence, generate_samples, left_pad, position_ids, sampled_prompt_ids
from pipeline.gold import get_gold_scorer, score_gold
from pipeline.io import log
from pipeline.models import (
    check_model_dir,
    check_same_vocabulary,
    disable_dropout,
    load_tokenizer,
    model_positions,
    quiet_transformers,
)

NORMALIZATION_FILE = "reward_normalization.json"


def backbone(model):
    return getattr(model, model.base_model_prefix)


def hidden_states(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Last hidden states of a sequence-classification model's backbone: (B, T, H)."""
    out = backbone(model)(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids(attention_mask), use_cache=False
    )
    return out.last_hidden_state


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last attended token of each row (works with left and right padding)."""
    width = attention_mask.shape[1]
    return width - 1 - attention_mask.flip(1).argmax(1)


POOLINGS = ("last", "mean", "sum")


def pooling_of(model) -> str:
    """How a reward model turns per-token head outputs into one score (saved in its config.json)."""
    return getattr(model.config, "rlhf_pooling", "last")


def pool(token_scores: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(B, T) per-token head outputs -> (B,) sequence scores.

    'last' is the classic reward model (the head at the last real token). 'sum' adds the head over
    every real token: with a causal backbone the prompt's share is identical for two responses to
    the same prompt, so it cancels in every comparison; it learns a lexical gold such as VADER from
    far fewer pairs than 'last' (see the reward-model note in bench/RESULTS.md).
    """
    mask = attention_mask.to(token_scores.dtype)
    if pooling == "last":
        return token_scores[torch.arange(len(token_scores), device=token_scores.device), last_token_index(attention_mask)]
    if pooling == "sum":
        return (token_scores * mask).sum(1)
    if pooling == "mean":
        return (token_scores * mask).sum(1) / mask.sum(1).clamp(min=1)
    raise ValueError(f"unknown pooling {pooling!r}; use one of {POOLINGS}")


def score_sequences(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The reward model's sequence score: (B,)."""
    h = hidden_states(model, input_ids, attention_mask)  # (B, T, H)
    token_scores = model.score(h).squeeze(-1).float()  # (B, T)
    return pool(token_scores, attention_mask, pooling_of(model))


@torch.no_grad()
def score_token_lists(model, sequences: list[list[int]], pad_id: int, batch_size: int, device) -> list[float]:
    scores = []
    for start in range(0, len(sequences), batch_size):
        ids, mask = left_pad(sequences[start : start + batch_size], pad_id)
        scores.extend(score_sequences(model, ids.to(device), mask.to(device)).tolist())
    return scores


def use_pipeline_score(model):
    """Make model(...) return the pipeline's pooled sequence score as `logits` (B, 1).

    TRL's RewardTrainer calls model(**inputs).logits; binding forward on the instance makes it
    train exactly what PPO and evaluation score, and keeps DDP's forward hooks in the path.
    """
    from transformers.modeling_outputs import SequenceClassifierOutput

    def forward(input_ids=None, attention_mask=None, **_):
        return SequenceClassifierOutput(logits=score_sequences(model, input_ids, attention_mask)[:, None])

    model.forward = forward
    return model


def preference_features(pairs: list[dict], max_length: int) -> dict[str, list]:
    """chosen_ids / rejected_ids = prompt + response tokens (what PPO scores), fitted to max_length by `fit_sequence`
    (the prompt's last tokens and the whole response, which is the sequence's last max_length tokens)."""
    return {
        "chosen_ids": [fit_sequence(p["prompt_ids"], p["chosen_ids"], max_length) for p in pairs],
        "rejected_ids": [fit_sequence(p["prompt_ids"], p["rejected_ids"], max_length) for p in pairs],
    }


def warn_truncated(pairs: list[dict], max_length: int) -> None:
    """Pairs longer than max_length are scored on their last max_length tokens (left truncation, as in PPO's cut)."""
    n_long = sum(len(p["prompt_ids"]) + max(len(p["chosen_ids"]), len(p["rejected_ids"])) > max_length for p in pairs)
    if n_long:
        log.warning(
            "%d of %d preference pairs exceed reward_model.max_length=%d tokens; the reward model sees their last %d",
            n_long,
            len(pairs),
            max_length,
            max_length,
        )


def score_pairs(model, pairs: list[dict], max_length: int, pad_id: int, device) -> tuple[list[float], list[float]]:
    """The reward model's scores of each pair's chosen and rejected sequences, cut as in training."""
    feats = preference_features(pairs, max_length)
    chosen = score_token_lists(model, feats["chosen_ids"], pad_id, 128, device)
    rejected = score_token_lists(model, feats["rejected_ids"], pad_id, 128, device)
    return chosen, rejected


def check_backbone(backbone_dir: Path, cfg, tokenizer) -> None:
    """The backbone reads the base's token ids (same vocabulary, token for token) and takes max_length positions."""
    if cfg.backbone != "base":
        check_same_vocabulary(
            load_tokenizer(backbone_dir, "reward_model.backbone"), tokenizer, "reward_model.backbone", "the base policy"
        )
    positions = model_positions(backbone_dir, "reward_model.backbone")
    if positions is not None and cfg.max_length > positions:
        raise ConfigError(
            f"reward_model.max_length: {cfg.max_length} exceeds the backbone's {positions} positions ({backbone_dir}); lower it"
        )


def new_reward_model(backbone_dir: str | Path, pad_token_id: int, pooling: str = "last"):
    check_model_dir(backbone_dir, "reward_model.backbone")
    # the score head is new by design: transformers' load report would flag `score.weight` as MISSING on every run
    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(
            str(backbone_dir), num_labels=1, trust_remote_code=False, use_safetensors=True
        )
    model.config.pad_token_id = pad_token_id
    model.config.rlhf_pooling = pooling
    disable_dropout(model)
    return model


def policy_sample_scores(rm, policy, tokenizer, prompts: list[dict], params, device) -> list[dict]:
    """Two samples per prompt of `policy`, drawn as PPO draws, with proxy and gold scores (normalisation + scatter).

    Real labels (`gold_available` false) have no gold: the records hold the proxy score only."""
    sampling = params.sampling
    samples = generate_samples(
        policy,
        tokenizer,
        prompts,
        sampling,
        samples_per_prompt=2,
        batch_size=256,
        seed=params.seed + 1,
        device=device,
        policy_name="base",
        with_logprobs=False,
    )
    prompt_ids = sampled_prompt_ids(tokenizer, prompts, policy, sampling.max_new_tokens, "sampling.max_new_tokens")
    positions, budget = context_positions(rm), sampling.max_new_tokens
    sequences = [fit_sequence(prompt_ids[s["prompt"]], s["response_ids"], positions, budget) for s in samples]
    proxy = score_token_lists(rm, sequences, tokenizer.pad_token_id, 128, device)
    if not gold_available(params):
        return [{"proxy": p} for p in proxy]
    responses, prompts = [s["response"] for s in samples], [s["prompt"] for s in samples]
    gold = score_gold(get_gold_scorer(params.annotator.gold), responses, prompts)
    return [{"proxy": p, "gold": g} for p, g in zip(proxy, gold, strict=True)]


def normalization_stats(scores: list[dict]) -> dict:
    """What NORMALIZATION_FILE holds: the proxy's mean and std over base-policy samples (PPO normalises its
    reward with them), and the gold's, to put both on one scale."""
    proxy = np.array([s["proxy"] for s in scores])
    stats = {"mean": float(proxy.mean()), "std": float(proxy.std() + 1e-8), "n_samples": len(proxy)}
    if scores and "gold" in scores[0]:  # real labels have no gold to put on the proxy's scale
        gold = np.array([s["gold"] for s in scores])
        stats |= {"gold_mean": float(gold.mean()), "gold_std": float(gold.std() + 1e-8)}
    return stats


def load_reward_model(path: str | Path, device) -> tuple[object, dict]:
    path = check_model_dir(path, "reward model")
    model = AutoModelForSequenceClassification.from_pretrained(str(path), trust_remote_code=False, use_safetensors=True)
    disable_dropout(model)
    norm_file = Path(path) / NORMALIZATION_FILE
    norm = json.loads(norm_file.read_text()) if norm_file.exists() else {"mean": 0.0, "std": 1.0}
    return model.to(device).eval(), norm


def score_records(
    model, tokenizer, records: list[dict], normalization: dict, batch_size: int, device, new_tokens: int = 0
) -> None:
    """Add proxy_reward (raw) and proxy_reward_norm to generation records, scoring prompt + response ids.

    Each sequence is fitted to the reward model's context by `fit_sequence`; `new_tokens` (sampling.max_new_tokens
    of the sampler) keeps the prompt tokens the policy continued, as PPO's rollouts score them."""
    prompt_ids = dict(zip(*_unique_prompt_ids(tokenizer, records), strict=True))
    positions = context_positions(model)
    sequences = [fit_sequence(prompt_ids[r["prompt"]], r["response_ids"], positions, new_tokens) for r in records]
    raw = score_token_lists(model, sequences, tokenizer.pad_token_id, batch_size, device)
    for r, s in zip(records, raw, strict=True):
        r["proxy_reward"] = s
        r["proxy_reward_norm"] = (s - normalization["mean"]) / normalization["std"]


def _unique_prompt_ids(tokenizer, records: list[dict]) -> tuple[list[str], list[list[int]]]:
    prompts = list(dict.fromkeys(r["prompt"] for r in records))
    return prompts, tokenizer(prompts, add_special_tokens=False)["input_ids"]

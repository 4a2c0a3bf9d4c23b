"""Reward-model scoring and the datasets TRL's RewardTrainer trains on."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification

from pipeline.generation import left_pad, position_ids
from pipeline.models import check_model_dir, disable_dropout

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
    """chosen_ids / rejected_ids = prompt + response tokens (what PPO scores), keeping the last max_length."""
    return {
        "chosen_ids": [(p["prompt_ids"] + p["chosen_ids"])[-max_length:] for p in pairs],
        "rejected_ids": [(p["prompt_ids"] + p["rejected_ids"])[-max_length:] for p in pairs],
    }


def new_reward_model(backbone_dir: str | Path, pad_token_id: int, pooling: str = "last"):
    check_model_dir(backbone_dir, "reward_model.backbone")
    model = AutoModelForSequenceClassification.from_pretrained(
        str(backbone_dir), num_labels=1, trust_remote_code=False, use_safetensors=True
    )
    model.config.pad_token_id = pad_token_id
    model.config.rlhf_pooling = pooling
    disable_dropout(model)
    return model


def load_reward_model(path: str | Path, device) -> tuple[object, dict]:
    path = check_model_dir(path, "reward model")
    model = AutoModelForSequenceClassification.from_pretrained(str(path), trust_remote_code=False, use_safetensors=True)
    disable_dropout(model)
    norm_file = Path(path) / NORMALIZATION_FILE
    norm = json.loads(norm_file.read_text()) if norm_file.exists() else {"mean": 0.0, "std": 1.0}
    return model.to(device).eval(), norm


def score_records(model, tokenizer, records: list[dict], normalization: dict, batch_size: int, device) -> None:
    """Add proxy_reward (raw) and proxy_reward_norm to generation records, scoring prompt + response ids."""
    prompt_ids = dict(zip(*_unique_prompt_ids(tokenizer, records), strict=True))
    sequences = [prompt_ids[r["prompt"]] + r["response_ids"] for r in records]
    raw = score_token_lists(model, sequences, tokenizer.pad_token_id, batch_size, device)
    for r, s in zip(records, raw, strict=True):
        r["proxy_reward"] = s
        r["proxy_reward_norm"] = (s - normalization["mean"]) / normalization["std"]


def _unique_prompt_ids(tokenizer, records: list[dict]) -> tuple[list[str], list[list[int]]]:
    prompts = list(dict.fromkeys(r["prompt"] for r in records))
    return prompts, tokenizer(prompts, add_special_tokens=False)["input_ids"]

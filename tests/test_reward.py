"""Reward-model scoring: pooling by hand, the training forward equals the scorer, planted signal is learned."""

import datasets
import numpy as np
import pytest
import torch
from trl import RewardTrainer

from pipeline.models import load_tokenizer
from pipeline.reward import last_token_index, new_reward_model, pool, preference_features, score_token_lists, use_pipeline_score


def test_pooling_by_hand():
    s = torch.tensor([[9.0, 1.0, 2.0, 3.0], [1.0, 2.0, 4.0, 8.0]])
    mask = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 0]])  # left padding, right padding
    assert last_token_index(mask).tolist() == [3, 2]
    assert pool(s, mask, "last").tolist() == [3.0, 4.0]
    assert pool(s, mask, "sum").tolist() == [6.0, 7.0]
    assert pool(s, mask, "mean").tolist() == pytest.approx([2.0, 7 / 3])
    with pytest.raises(ValueError, match="unknown pooling"):
        pool(s, mask, "max")


@pytest.mark.parametrize("pooling", ["last", "sum"])
def test_padding_side_does_not_change_scores(tiny_model_dir, pooling):
    tok = load_tokenizer(tiny_model_dir)
    rm = use_pipeline_score(new_reward_model(tiny_model_dir, tok.pad_token_id, pooling))
    seqs = [[5, 6, 7, 8, 9], [10, 11]]
    left = score_token_lists(rm, seqs, tok.pad_token_id, 8, "cpu")
    singles = [score_token_lists(rm, [s], tok.pad_token_id, 1, "cpu")[0] for s in seqs]
    ids = torch.full((2, 5), tok.pad_token_id)
    mask = torch.zeros(2, 5, dtype=torch.long)
    for i, s in enumerate(seqs):  # right padding, as TRL's collator pads during training
        ids[i, : len(s)], mask[i, : len(s)] = torch.tensor(s), 1
    with torch.no_grad():
        right = rm(input_ids=ids, attention_mask=mask).logits.squeeze(-1).tolist()
    assert left == pytest.approx(singles, abs=1e-5) and right == pytest.approx(singles, abs=1e-5)


def test_reward_trainer_learns_a_planted_signal(tiny_model_dir, tiny_reward_args):
    """Chosen responses contain token 42, rejected ones token 43: TRL's trainer must beat chance on held-out pairs."""
    tok = load_tokenizer(tiny_model_dir)
    rng = np.random.default_rng(0)

    def pair():
        body = rng.integers(5, 40, size=6).tolist()
        k = int(rng.integers(0, 6))
        return {"prompt_ids": [7, 8], "chosen_ids": body[:k] + [42] + body[k:], "rejected_ids": body[:k] + [43] + body[k:]}

    train, test = [pair() for _ in range(256)], [pair() for _ in range(64)]
    torch.manual_seed(0)
    rm = use_pipeline_score(new_reward_model(tiny_model_dir, tok.pad_token_id, "sum"))
    args = tiny_reward_args
    RewardTrainer(
        model=rm, args=args, train_dataset=datasets.Dataset.from_dict(preference_features(train, 32)), processing_class=tok
    ).train()
    feats = preference_features(test, 32)
    chosen = score_token_lists(rm, feats["chosen_ids"], tok.pad_token_id, 64, "cpu")
    rejected = score_token_lists(rm, feats["rejected_ids"], tok.pad_token_id, 64, "cpu")
    assert np.mean(np.array(chosen) > np.array(rejected)) > 0.9

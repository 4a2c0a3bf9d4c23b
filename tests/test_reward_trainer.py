"""Prompt-grouped reward-model training: batching, deduplication, the same loss as pairwise, learning."""

import itertools

import datasets
import numpy as np
import pytest
import torch

from pipeline.models import load_tokenizer
from pipeline.reward import new_reward_model, preference_features, score_token_lists, use_pipeline_score
from pipeline.reward_trainer import (
    DedupPreferenceCollator,
    GroupedRewardTrainer,
    PromptGroupBatchSampler,
    bradley_terry_loss,
    group_batches,
    group_rows,
    groups_per_batch,
)


def test_group_batches_cover_every_row_once_and_never_split_a_group():
    keys = ["a"] * 3 + ["b"] * 6 + ["c"] * 1 + ["d"] * 6 + ["e"] * 4
    groups = group_rows(keys)
    assert groups_per_batch(groups, 8) == 2  # mean group size 4
    batches = group_batches(groups, 2, seed=0)
    assert sorted(i for b in batches for i in b) == list(range(len(keys)))
    for b in batches:
        assert len({keys[i] for i in b}) <= 2
        for key in {keys[i] for i in b}:
            assert sum(keys[i] == key for i in b) == keys.count(key)  # the whole group is in this batch
    assert group_batches(groups, 2, seed=0) == batches
    orders = {tuple(map(tuple, group_batches(groups, 2, seed=s))) for s in range(6)}
    assert len(orders) > 1


def test_sampler_reshuffles_each_epoch_and_keeps_its_length():
    sampler = PromptGroupBatchSampler([i // 3 for i in range(30)], pairs_per_batch=6, seed=1)
    first, second = list(sampler), list(sampler)
    assert len(first) == len(second) == len(sampler) == 5
    assert first != second
    assert sorted(i for b in first for i in b) == sorted(i for b in second for i in b) == list(range(30))


def test_collator_keeps_each_sequence_once():
    a, b, c = [5, 6, 7], [5, 8], [9, 9, 9, 9]
    examples = [{"chosen_ids": a, "rejected_ids": b}, {"chosen_ids": a, "rejected_ids": c}, {"chosen_ids": c, "rejected_ids": b}]
    out = DedupPreferenceCollator(pad_token_id=0)(examples)
    assert out["input_ids"].shape == (3, 4)
    unpadded = [row[mask.bool()].tolist() for row, mask in zip(out["input_ids"], out["attention_mask"], strict=True)]
    assert [unpadded[i] for i in out["chosen_index"]] == [a, a, c]
    assert [unpadded[i] for i in out["rejected_index"]] == [b, c, b]


def test_grouped_loss_and_gradients_equal_the_pairwise_ones(tiny_model_dir):
    """Scoring each distinct sequence once changes the cost, not the Bradley-Terry loss or its gradient."""
    tok = load_tokenizer(tiny_model_dir)
    torch.manual_seed(0)
    rm = use_pipeline_score(new_reward_model(tiny_model_dir, tok.pad_token_id, "sum"))
    responses = [[5, 6, 7], [8, 9], [10, 11, 12, 13]]
    pairs = [{"chosen_ids": x, "rejected_ids": y} for x, y in itertools.permutations(responses, 2)]

    def grads_of(loss):
        rm.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in rm.parameters() if p.grad is not None]

    batch = DedupPreferenceCollator(tok.pad_token_id)(pairs)
    scores = rm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.squeeze(-1)
    grouped = bradley_terry_loss(scores[batch["chosen_index"]], scores[batch["rejected_index"]])
    grouped_grads = grads_of(grouped)

    def side(key):
        seqs = [p[key] for p in pairs]
        ids = torch.full((len(seqs), 4), tok.pad_token_id)
        mask = torch.zeros_like(ids)
        for i, s in enumerate(seqs):
            ids[i, : len(s)], mask[i, : len(s)] = torch.tensor(s), 1
        return rm(input_ids=ids, attention_mask=mask).logits.squeeze(-1)

    pairwise = bradley_terry_loss(side("chosen_ids"), side("rejected_ids"))
    assert batch["input_ids"].shape[0] == 3 and len(pairs) == 6
    assert grouped.item() == pytest.approx(pairwise.item(), abs=1e-6)
    for g, p in zip(grouped_grads, grads_of(pairwise), strict=True):
        torch.testing.assert_close(g, p, atol=1e-6, rtol=1e-4)


def test_grouped_trainer_learns_a_planted_signal_with_fewer_forwards(tiny_model_dir, tiny_reward_args):
    """k responses per prompt, all pairs labelled by a planted token count: held-out accuracy well above chance."""
    tok = load_tokenizer(tiny_model_dir)
    rng = np.random.default_rng(0)

    def group(prompt_id, k=4):
        prompt = [7, 20 + prompt_id % 20, 5 + prompt_id // 20]  # distinct per group
        responses = []
        for _ in range(k):
            body = rng.integers(5, 40, size=6).tolist()
            n_good = int(rng.integers(0, 3))
            responses.append((n_good, body[: 6 - n_good] + [42] * n_good))
        return [
            {"prompt_ids": prompt, "chosen_ids": a[1], "rejected_ids": b[1]}
            if a[0] > b[0]
            else {"prompt_ids": prompt, "chosen_ids": b[1], "rejected_ids": a[1]}
            for a, b in itertools.combinations(responses, 2)
            if a[0] != b[0]
        ]

    train = [p for i in range(80) for p in group(i)]
    test = [p for i in range(80, 100) for p in group(i)]
    torch.manual_seed(0)
    rm = use_pipeline_score(new_reward_model(tiny_model_dir, tok.pad_token_id, "sum"))
    args = tiny_reward_args
    trainer = GroupedRewardTrainer(
        model=rm,
        args=args,
        train_dataset=datasets.Dataset.from_dict(preference_features(train, 32)),
        processing_class=tok,
        data_collator=DedupPreferenceCollator(tok.pad_token_id),
        group_keys=[tuple(p["prompt_ids"]) for p in train],
    )
    trainer.train()
    pairwise_tokens = 3 * sum(len(p["prompt_ids"]) * 2 + len(p["chosen_ids"]) + len(p["rejected_ids"]) for p in train)
    assert trainer._total_train_tokens < 0.8 * pairwise_tokens  # each distinct response scored once per step
    feats = preference_features(test, 32)
    chosen = score_token_lists(rm, feats["chosen_ids"], tok.pad_token_id, 64, "cpu")
    rejected = score_token_lists(rm, feats["rejected_ids"], tok.pad_token_id, 64, "cpu")
    assert np.mean(np.array(chosen) > np.array(rejected)) > 0.85

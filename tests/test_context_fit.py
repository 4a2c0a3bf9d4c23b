"""Every path that feeds a model fits prompt + response into its context by one rule (`fit_prompt`): the prompt's
last tokens, the whole response. Each path is run here with prompts far longer than a tiny model's 64 positions,
which used to end in an IndexError in GPT-2's position embeddings."""

from types import SimpleNamespace

import pytest
import torch
from accelerate import Accelerator

from pipeline.config import DPOMethodConfig, PPOConfig, RLOOMethodConfig, SamplingConfig, parse_params
from pipeline.generation import fit_prompt, fit_prompt_ids, fit_sequence, generate_samples, shared_positions
from pipeline.models import load_policy, load_tokenizer
from pipeline.reward import (
    new_reward_model,
    policy_sample_scores,
    preference_features,
    score_pairs,
    score_records,
    score_token_lists,
)

CPU = torch.device("cpu")
SAMPLING = SamplingConfig(max_new_tokens=6)
LONG = " ".join(["the cat sat on the mat and was happy"] * 12)  # ~100 tokens of the tiny tokenizer: past 64 positions


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # TRL's (unwritten) output_dir is relative: keep it out of the repository


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    torch.manual_seed(1)
    rm = new_reward_model(tiny_model_dir, tok.pad_token_id, "sum").eval()
    with torch.no_grad():
        rm.score.weight.normal_(0, 1.0)
    assert len(tok(LONG)["input_ids"]) > rm.config.n_positions
    return SimpleNamespace(dir=tiny_model_dir, tok=tok, rm=rm, positions=rm.config.n_positions)


def prompts(n: int = 4) -> list[dict]:
    return [{"prompt_id": i, "prompt": f"{LONG} number {i}" if i % 2 == 0 else f"short {i}"} for i in range(n)]


# ---------------------------------------------------------------- the rule
def test_fit_prompt_keeps_the_prompt_end_and_room_for_the_response():
    prompt = list(range(10))
    assert fit_prompt(prompt, 4, 8) == [6, 7, 8, 9]
    assert fit_prompt(prompt, 4, None) == prompt and fit_prompt(prompt, 2, 20) == prompt
    assert fit_prompt(prompt, 8, 8) == [] and fit_prompt(prompt, 9, 8) == []  # not prompt[-0:], the whole prompt


def test_fit_sequence_budgets_a_sampled_response_as_the_sampler_did():
    prompt, short_response = list(range(10)), [100, 101]
    # sampled with max_new_tokens=4 in 8 positions, the policy saw the prompt's last 4 tokens: so does the scorer
    assert fit_sequence(prompt, short_response, 8, new_tokens=4) == [6, 7, 8, 9, 100, 101]
    assert fit_sequence(prompt, short_response, 8) == [4, 5, 6, 7, 8, 9, 100, 101]  # a pair's response: its own length
    assert fit_sequence(prompt, list(range(100, 112)), 8) == list(range(104, 112))  # only an over-long response is cut
    assert fit_sequence(prompt, short_response, None, 4) == prompt + short_response


def test_reward_model_features_are_the_last_max_length_tokens_as_before():
    pairs = [{"prompt_ids": list(range(n)), "chosen_ids": [90] * c, "rejected_ids": [91]} for n in (0, 3, 30) for c in (1, 5, 40)]
    feats = preference_features(pairs, 16)
    assert feats["chosen_ids"] == [(p["prompt_ids"] + p["chosen_ids"])[-16:] for p in pairs]
    assert feats["rejected_ids"] == [(p["prompt_ids"] + p["rejected_ids"])[-16:] for p in pairs]


def test_no_prompt_room_is_one_line_naming_the_key():
    with pytest.raises(Exception, match="sampling.max_new_tokens: 64 new tokens leave no room for a prompt"):
        fit_prompt_ids([[1, 2]], 64, 64, "sampling.max_new_tokens")


# ---------------------------------------------------------------- each path, with prompts longer than the context
def test_scoring_generation_records_fits_the_reward_model(tiny):
    """generate/evaluate and every evaluation point: score_records used to hand the reward model the uncut prompt."""
    policy = load_policy(tiny.dir)
    records = generate_samples(
        policy, tiny.tok, prompts(), SAMPLING, samples_per_prompt=2, batch_size=8, seed=0, device=CPU, policy_name="base"
    )
    score_records(tiny.rm, tiny.tok, records, {"mean": 0.0, "std": 1.0}, 8, CPU, SAMPLING.max_new_tokens)
    # the reward model scored exactly the prompt tokens the policy continued (as PPO's rollouts score them)
    sampled = fit_prompt_ids(tiny.tok([p["prompt"] for p in prompts()])["input_ids"], tiny.positions, 6)
    expected = score_token_lists(
        tiny.rm, [sampled[r["prompt_id"]] + r["response_ids"] for r in records], tiny.tok.pad_token_id, 8, CPU
    )
    assert [r["proxy_reward"] for r in records] == pytest.approx(expected, abs=1e-5)


def test_evaluation_point_with_long_prompts(tiny):
    """The PPO/DPO/RLOO/GRPO curves' evaluation points: the crash of issue 26 (evaluate_point -> score_records)."""
    from rl.ppo_eval import evaluate_point

    trainer = SimpleNamespace(
        unwrapped=SimpleNamespace(policy=load_policy(tiny.dir)),
        acc=Accelerator(cpu=True),
        sampling=SAMPLING,
        ref_policy=load_policy(tiny.dir),
        reward_model=tiny.rm,
        reward_norm={"mean": 0.0, "std": 1.0},
    )
    stats, samples = evaluate_point(trainer, tiny.tok, prompts(), None, seed=0, samples_per_prompt=2, n_boot=20)
    # the policy equals its reference (a separate copy): the sampler's log-probs put the KL at floating-point noise,
    # and the point before training, which knows it is untrained, reports the 0 it is without the reference's pass
    assert len(samples) == 8 and stats["eval/kl"] == pytest.approx(0.0, abs=1e-4)
    untrained, again = evaluate_point(trainer, tiny.tok, prompts(), None, seed=0, samples_per_prompt=2, n_boot=20, untrained=True)
    assert untrained["eval/kl"] == 0.0 and all(s["logprob"] == s["ref_logprob"] for s in again)
    assert [s["response"] for s in again] == [s["response"] for s in samples]


def test_reward_model_normalisation_samples_with_long_prompts(tiny):
    params = parse_params({"preferences": {"source": "file", "path": "p.jsonl"}, "sampling": {"max_new_tokens": 6}})
    scores = policy_sample_scores(tiny.rm, load_policy(tiny.dir), tiny.tok, prompts(), params, CPU)
    assert len(scores) == 8 and all(set(s) == {"proxy"} for s in scores)  # real labels: no gold scores


def test_held_out_pairs_with_long_prompts_are_scored(tiny):
    enc = lambda text: tiny.tok(text)["input_ids"]  # noqa: E731
    pairs = [{"prompt_ids": enc(p["prompt"]), "chosen_ids": enc(" happy"), "rejected_ids": enc(" sad")} for p in prompts()]
    chosen, rejected = score_pairs(tiny.rm, pairs, tiny.positions, tiny.tok.pad_token_id, CPU)
    assert len(chosen) == len(rejected) == 4


def test_ppo_rollout_and_update_with_long_prompts(tiny):
    """stages.ppo fits the training prompts to the policy, reference, value and reward models before training."""
    from rl.ppo_trainer import PPOTrainer, fitted_queries

    value = new_reward_model(tiny.dir, tiny.tok.pad_token_id, "sum")
    trainer = PPOTrainer(
        PPOConfig(total_updates=1, batch_size=4, num_minibatches=2, ppo_epochs=1),
        Accelerator(cpu=True),
        load_policy(tiny.dir),
        load_policy(tiny.dir),
        value,
        tiny.rm,
        tiny.tok,
        {"mean": 0.0, "std": 1.0},
        seed=0,
        kl_coef=0.05,
        sampling=SAMPLING,
    )
    queries = fitted_queries(trainer, tiny.tok, prompts(), SAMPLING.max_new_tokens)
    assert max(len(q) for q in queries) == tiny.positions - 6
    stats = trainer.step(queries, 0)
    assert torch.isfinite(torch.tensor(stats["objective/scores"]))


def test_dpo_trains_and_scores_pairs_with_long_prompts(tiny):
    from rl.trl_methods import dpo_trainer, fit_pairs, implicit_reward_accuracy

    enc = lambda text: tiny.tok(text)["input_ids"]  # noqa: E731
    pairs = [
        {"prompt_ids": enc(p["prompt"]), "chosen_ids": enc(" happy heart"), "rejected_ids": enc(" terrible storm")}
        for p in prompts(8)
    ]
    fitted = fit_pairs(pairs, tiny.positions)
    assert len(fitted) == 8 and all(len(p["prompt_ids"]) + len(p["chosen_ids"]) <= tiny.positions for p in fitted)
    policy, ref = load_policy(tiny.dir), load_policy(tiny.dir)
    trainer = dpo_trainer(
        policy, ref, tiny.tok, fitted, DPOMethodConfig(max_steps=1, batch_size=4), 0.1, seed=0, device=CPU, callbacks=[]
    )
    trainer.train()
    assert implicit_reward_accuracy(trainer.model, ref, fitted, 0.1, tiny.tok.pad_token_id, CPU)["n_pairs"] == 8


@pytest.mark.parametrize("method", ["rloo", "grpo"])
def test_online_method_samples_and_rewards_long_prompts(tiny, method):
    """TRL tokenizes whole prompts: the trainers cut them, and the proxy reward fits what it scores."""
    from pipeline.config import GRPOMethodConfig
    from rl.trl_methods import ProxyReward, online_trainer

    cfg = {"rloo": RLOOMethodConfig, "grpo": GRPOMethodConfig}[method](total_updates=1, batch_size=4, num_generations=2)
    reward = ProxyReward(tiny.rm, tiny.tok, {"mean": 0.0, "std": 1.0}, CPU, None, SAMPLING.max_new_tokens)
    trainer = online_trainer(
        method, load_policy(tiny.dir), tiny.tok, prompts(), reward, cfg, SAMPLING, 0.05, seed=0, device=CPU, callbacks=[]
    )
    assert trainer.fit_positions == tiny.positions == shared_positions(trainer.model)
    trainer.train()
    assert reward.episodes == 4


def test_dpo_leaves_out_pairs_whose_response_fills_the_context_and_says_so(tmp_path, caplog):
    import json

    from pipeline.errors import ConfigError
    from rl.trl_methods import fitted_pairs

    fits = {"prompt_ids": list(range(100)), "chosen_ids": [1] * 10, "rejected_ids": [2] * 3}
    too_long = fits | {"chosen_ids": [1] * 64}
    (tmp_path / "data/preferences").mkdir(parents=True)
    for split, pairs in (("train", [fits, too_long]), ("test", [too_long])):
        (tmp_path / f"data/preferences/{split}.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    with caplog.at_level("WARNING", logger="rlhf_bench"):
        assert fitted_pairs(tmp_path / "data/preferences", "train", 64) == [fits | {"prompt_ids": list(range(46, 100))}]
    assert "dpo: left out 1 of 2 preference pairs whose chosen or rejected response alone fills the policy's 64 positions" in (
        caplog.text
    )
    with pytest.raises(ConfigError, match="no held-out pair has a response shorter than the policy's 64 positions"):
        fitted_pairs(tmp_path / "data/preferences", "test", 64)

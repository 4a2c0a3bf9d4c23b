"""DPO, RLOO and GRPO through TRL on a tiny GPT-2: each improves its own objective; the stages reject bad knobs in one line."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pipeline.config import DPOMethodConfig, GRPOMethodConfig, RLOOMethodConfig, SamplingConfig
from pipeline.generation import left_pad, sample
from pipeline.models import load_policy, load_tokenizer
from pipeline.reward import new_reward_model, score_sequences
from rl.trl_methods import ProxyReward, dpo_trainer, implicit_rewards, mask_positions, online_trainer

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["the cat", "a good day", "bad weather", "love and", "the storm", "a happy", "joy fill", "the old"]
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # TRL's (unwritten) output_dir is relative: keep it out of the repository


def test_mask_positions_makes_left_padding_harmless(tiny_model_dir, tiny_tokenizer):
    model = load_policy(tiny_model_dir)
    ids = tiny_tokenizer(["the cat sat", "a good day makes a happy"], add_special_tokens=False)["input_ids"]
    padded, mask = left_pad(ids, tiny_tokenizer.pad_token_id)
    alone = model(input_ids=torch.tensor([ids[0]])).logits[0, -1]
    assert not torch.allclose(model(input_ids=padded, attention_mask=mask).logits[0, -1], alone, atol=1e-5)  # shifted positions
    mask_positions(model)
    assert torch.allclose(model(input_ids=padded, attention_mask=mask).logits[0, -1], alone, atol=1e-5)


def preference_pairs(tok) -> list[dict]:
    """Chosen continuations say 'happy', rejected ones 'terrible': a preference DPO can learn."""
    good, bad = (
        tok(" happy heart", add_special_tokens=False)["input_ids"],
        tok(" terrible storm", add_special_tokens=False)["input_ids"],
    )
    return [
        {"prompt_ids": tok(p, add_special_tokens=False)["input_ids"], "chosen_ids": good, "rejected_ids": bad} for p in PROMPTS
    ] * 4


def test_dpo_learns_the_preferences(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    pairs = preference_pairs(tok)
    policy, ref = load_policy(tiny_model_dir), load_policy(tiny_model_dir)
    cfg = DPOMethodConfig(max_steps=12, batch_size=8, lr=3e-3, lr_scheduler="constant")
    trainer = dpo_trainer(policy, ref, tok, pairs, cfg, 0.1, seed=0, device=CPU, callbacks=[])
    chosen, rejected = implicit_rewards(policy, ref, pairs[:8], 0.1, tok.pad_token_id, CPU)
    assert chosen == rejected == [0.0] * 8  # the policy starts as its reference
    trainer.train()
    chosen, rejected = implicit_rewards(trainer.model, ref, pairs[:8], 0.1, tok.pad_token_id, CPU)
    assert all(c > r for c, r in zip(chosen, rejected, strict=True)), (chosen, rejected)
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    assert losses[-1] < losses[0] - 0.1, losses
    assert "rewards/accuracies" in trainer.state.log_history[0]


class RecordingReward(ProxyReward):
    lengths: list

    def __call__(self, prompts, completion_ids, **kw):
        self.lengths.extend(len(c) for c in completion_ids)
        return super().__call__(prompts, completion_ids, **kw)


def planted_reward(model_dir, tok):
    torch.manual_seed(1)
    rm = new_reward_model(model_dir, tok.pad_token_id, "sum")
    with torch.no_grad():
        rm.score.weight.normal_(0, 1.0)  # a fixed direction in hidden space, summed over tokens (as tests/test_ppo_trainer.py)
    return rm.eval()


@torch.no_grad()
def mean_score(policy, rm, tok, sampling) -> float:
    torch.manual_seed(123)
    ids, mask = left_pad(tok(PROMPTS * 32, add_special_tokens=False)["input_ids"], tok.pad_token_id)
    batch = sample(
        policy.eval(),
        ids,
        mask,
        sampling.max_new_tokens,
        sampling.temperature,
        tok.eos_token_id,
        tok.pad_token_id,
        sampling.stop_at_eos,
    )
    return score_sequences(rm, batch.input_ids, batch.attention_mask).mean().item()


@pytest.mark.parametrize("method", ["rloo", "grpo"])
def test_online_method_raises_the_proxy_reward(tiny_model_dir, method):
    tok = load_tokenizer(tiny_model_dir)
    rm, sampling = planted_reward(tiny_model_dir, tok), SamplingConfig(max_new_tokens=6)
    reward = RecordingReward(rm, tok, {"mean": 0.0, "std": 1.0}, CPU)
    reward.lengths = []
    cfg = {"rloo": RLOOMethodConfig, "grpo": GRPOMethodConfig}[method](
        total_updates=20, batch_size=16, num_generations=4, lr=3e-3
    )
    policy = load_policy(tiny_model_dir)
    before = mean_score(policy, rm, tok, sampling)
    trainer = online_trainer(
        method, policy, tok, [{"prompt": p} for p in PROMPTS], reward, cfg, sampling, 0.01, seed=0, device=CPU, callbacks=[]
    )
    trainer.train()
    after = mean_score(trainer.model, rm, tok, sampling)
    assert after > before + 1.0, (before, after)
    assert reward.episodes == 20 * 16
    assert set(reward.lengths) == {6}  # fixed-length responses, as PPO samples them with stop_at_eos false
    assert "kl" in trainer.state.log_history[-2] and "rewards/proxy_reward/mean" in trainer.state.log_history[-2]


BAD_KNOBS = (
    ("dpo", ["--beta", "0.123"], "--beta 0.123 is not in curves.dpo_beta"),
    ("rloo", ["--kl-coef", "x"], "argument --kl-coef: invalid float value"),
    ("grpo", [], "the following arguments are required: --kl-coef"),
)


def test_stage_rejects_a_bad_knob_in_one_line():
    """Each stage's real entry point; the three start at once (most of their time is importing TRL)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", f"stages.{stage}", *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for stage, argv, _ in BAD_KNOBS
    ]
    for proc, (stage, _, expected) in zip(procs, BAD_KNOBS, strict=True):
        _, stderr = proc.communicate(timeout=120)
        lines = stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and expected in lines[0], (stage, stderr)


def test_fit_pairs_cuts_prompts_from_the_left_and_drops_what_cannot_fit():
    from rl.trl_methods import fit_pairs

    pairs = [
        {"prompt_ids": [1, 2, 3, 4], "chosen_ids": [5, 6], "rejected_ids": [7]},
        {"prompt_ids": [1], "chosen_ids": [5] * 6, "rejected_ids": [7]},
    ]
    assert fit_pairs(pairs, None) == pairs
    assert fit_pairs(pairs, 5) == [{"prompt_ids": [2, 3, 4], "chosen_ids": [5, 6], "rejected_ids": [7]}]


def test_eval_steps_are_dense_where_kl_moves_fastest():
    from rl.ppo_eval import is_eval_step

    def steps(every: int, last: int) -> list[int]:
        return [s for s in range(last + 1) if is_eval_step(s, every, last)]

    assert steps(3, 24) == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24]
    assert steps(20, 50) == [0, 1, 2, 4, 8, 16, 20, 40, 50]  # the last step even off the grid
    assert steps(1, 3) == [0, 1, 2, 3]
    assert steps(20, 10) == [0, 1, 2, 4, 8, 10]  # a run shorter than one interval

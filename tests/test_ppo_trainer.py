"""The PPO loop on a tiny GPT-2 with a planted reward: it learns, it is deterministic, it resumes exactly."""

import numpy as np
import pytest
import torch
from accelerate import Accelerator

from pipeline.config import PPOConfig, SamplingConfig
from pipeline.errors import NumericalError
from pipeline.models import load_policy, load_tokenizer
from pipeline.reward import new_reward_model
from rl.ppo_checkpoint import CheckpointCallback, load_checkpoint
from rl.ppo_trainer import Callback, PPOTrainer, prompt_batch

PROMPTS = ["the cat", "a good day", "bad weather", "love and", "the storm", "a happy", "joy fill", "the old"]


def make_trainer(
    model_dir,
    stop_at_eos: bool = False,
    cache: str = "dynamic",
    fused_adamw: bool | None = None,
    temperature: float = 1.0,
    **overrides,
):
    tok = load_tokenizer(model_dir)
    torch.manual_seed(1)
    rm = new_reward_model(model_dir, tok.pad_token_id, "sum")
    with torch.no_grad():
        rm.score.weight.normal_(0, 1.0)  # a planted, learnable reward: a fixed direction in hidden space, summed over tokens
    value = new_reward_model(model_dir, tok.pad_token_id, "sum")
    value.load_state_dict(rm.state_dict())
    cfg = PPOConfig(**({"total_updates": 20, "batch_size": 8, "ppo_epochs": 2, "lr": 3e-3} | overrides))
    trainer = PPOTrainer(
        cfg,
        Accelerator(cpu=True),
        load_policy(model_dir),
        load_policy(model_dir),
        value,
        rm,
        tok,
        {"mean": 0.0, "std": 1.0},
        seed=0,
        kl_coef=0.01,
        sampling=SamplingConfig(max_new_tokens=6, stop_at_eos=stop_at_eos, cache=cache, temperature=temperature),
        fused_adamw=fused_adamw,
    )
    queries = tok(PROMPTS, add_special_tokens=False)["input_ids"]
    return trainer, queries


def run(trainer, queries, start, stop):
    out = []
    for update in range(start, stop):
        idx = prompt_batch(len(queries), trainer.cfg.batch_size, update, 0)
        out.append(trainer.step([queries[i] for i in idx], update))
    return out


def test_prompt_batches_are_seeded_and_sharded():
    a = prompt_batch(100, 10, 3, seed=0)
    assert a == prompt_batch(100, 10, 3, seed=0) and a != prompt_batch(100, 10, 3, seed=1)
    r0, r1 = prompt_batch(100, 10, 3, 0, rank=0, world=2), prompt_batch(100, 10, 3, 0, rank=1, world=2)
    assert not set(r0) & set(r1) and sorted(r0 + r1) == sorted(a)
    with pytest.raises(ValueError, match="training prompts"):
        prompt_batch(5, 10, 0, 0)
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        prompt_batch(100, 9, 0, 0, world=2)


@pytest.mark.parametrize("stop_at_eos", [False, True])
def test_tiny_run_raises_the_proxy_reward(tiny_model_dir, stop_at_eos):
    trainer, queries = make_trainer(tiny_model_dir, stop_at_eos=stop_at_eos)

    def mean_score() -> float:  # 256 fresh samples: the per-update batch of 8 is too noisy to compare
        return trainer.rollout(queries * 32, update=10_000, timings={}).raw_scores.mean().item()

    before = mean_score()
    hist = run(trainer, queries, 0, 20)
    after = mean_score()
    assert after > before + 1.0, (before, after)
    # one update's KL is a mean over 8 samples of an unbiased but noisy estimate (negative on some updates): 5 updates
    assert np.mean([h["objective/kl"] for h in hist[-5:]]) > 0
    for key in (
        "objective/entropy",
        "policy/approxkl_avg",
        "policy/clipfrac_avg",
        "loss/policy_avg",
        "loss/value_avg",
        "val/ratio",
        "eps",
        "lr",
    ):
        assert key in hist[-1]


def test_static_cache_rollouts_keep_one_prompt_width(tiny_model_dir):
    """transformers' generate with a static cache (compiled on CUDA) samples the rollouts: every batch is padded to the
    longest prompt of the whole set, so the compiled decoding step keeps one shape."""
    trainer, queries = make_trainer(tiny_model_dir, cache="static", total_updates=2)
    widths = []
    step = trainer.rollout
    trainer.rollout = lambda q, update, timings, ids: (
        widths.append((ro := step(q, update, timings, ids)).batch.query_ids.shape[1]) or ro
    )
    history = trainer.train(queries, progress=False)
    assert trainer.prompt_width == max(len(q) for q in queries) and widths == [trainer.prompt_width] * 2
    assert len(history) == 3 and all(np.isfinite(h["loss/policy_avg"]) for h in history[1:])


def test_a_rollout_sample_does_not_depend_on_how_the_batch_is_split(tiny_model_dir):
    """Each response draws from a stream keyed by (update, prompt index): two processes taking every other prompt of
    the batch (prompt_batch's split) sample exactly what one process samples, and another update samples anew."""
    trainer, queries = make_trainer(tiny_model_dir)
    ids = list(range(len(queries)))
    whole = trainer.rollout(queries, 3, {}, ids).batch.response_ids
    for rank in (0, 1):
        shard = trainer.rollout(queries[rank::2], 3, {}, ids[rank::2]).batch.response_ids
        assert shard.tolist() == whole[rank::2].tolist()
    assert trainer.rollout(queries, 4, {}, ids).batch.response_ids.tolist() != whole.tolist()


def test_same_seed_same_curve(tiny_model_dir):
    curves = []
    for _ in range(2):
        trainer, queries = make_trainer(tiny_model_dir, total_updates=3)
        curves.append([(h["loss/policy_avg"], h["loss/value_avg"], h["objective/kl"]) for h in run(trainer, queries, 0, 3)])
    assert curves[0] == curves[1]


class Interrupt(Exception):
    pass


class InterruptAt(Callback):
    def __init__(self, update: int):
        self.update = update

    def on_update_end(self, trainer, update: int) -> None:
        if update == self.update:
            raise Interrupt


def test_train_resumes_exactly_from_a_checkpoint(tiny_model_dir, tmp_path):
    """train() interrupted after the checkpoint at update 2, restored and continued == train() uninterrupted."""
    trainer, queries = make_trainer(tiny_model_dir, total_updates=4)
    straight = trainer.train(queries, progress=False)
    assert [h["update"] for h in straight] == [0, 1, 2, 3, 4]
    first, queries = make_trainer(tiny_model_dir, total_updates=4)
    with pytest.raises(Interrupt):
        first.train(queries, callbacks=[CheckpointCallback(tmp_path / "ckpt", "fp", every=2), InterruptAt(3)], progress=False)
    resumed, queries = make_trainer(tiny_model_dir, total_updates=4)
    assert load_checkpoint(resumed, tmp_path / "ckpt", "fp")
    assert resumed.state.update == 2
    rest = resumed.train(queries, progress=False)
    key = lambda h: (h["loss/policy_avg"], h["objective/kl"], h["objective/scores"])  # noqa: E731
    assert [key(h) for h in straight[1:]] == [key(h) for h in rest[1:]]
    assert not load_checkpoint(make_trainer(tiny_model_dir)[0], tmp_path / "ckpt", "other-run")
    assert not (tmp_path / "ckpt").exists()


def test_a_nan_gradient_stops_the_run_before_the_weights_change(tiny_model_dir):
    trainer, queries = make_trainer(tiny_model_dir)
    param = next(trainer.unwrapped.policy.parameters())
    before = param.detach().clone()
    param.register_hook(lambda grad: grad * float("nan"))
    with pytest.raises(NumericalError, match="non-finite gradient_norm at update 0"):
        run(trainer, queries, 0, 1)
    assert torch.equal(param.detach(), before)


@pytest.mark.parametrize("num_minibatches", [1, 2])
def test_the_first_minibatch_starts_on_policy_exactly(tiny_model_dir, monkeypatch, num_minibatches):
    """In fp32 the first minibatch of the first epoch recomputes the rollout's log-probs bit for bit: every ratio is
    exactly 1 (nothing clipped), so the clipped objective starts as the plain policy gradient. Old log-probs taken from
    another computation (the sampler's cached decoding, a bf16 pass) would start the ratios off 1 and clip on noise."""
    import rl.ppo_trainer as ppo_trainer

    calls = []
    real = ppo_trainer.policy_loss

    def recording(new, old, adv, mask, cliprange):
        calls.append((new.detach().clone(), old.clone(), mask.clone()))
        return real(new, old, adv, mask, cliprange)

    monkeypatch.setattr(ppo_trainer, "policy_loss", recording)
    trainer, queries = make_trainer(
        tiny_model_dir, stop_at_eos=True, temperature=0.7, num_minibatches=num_minibatches, total_updates=1
    )
    stats = run(trainer, queries, 0, 1)[0]
    new, old, mask = calls[0]
    assert mask.sum() > 0 and torch.equal(new * mask, old)
    assert not torch.equal(calls[-1][0] * calls[-1][2], calls[-1][1])  # later minibatches see the updated policy
    assert len(calls) == 2 * num_minibatches and stats["policy/clipfrac_avg"] >= 0


def test_adamw_is_fused_on_request_and_by_default_only_on_cuda(tiny_model_dir):
    trainer, _ = make_trainer(tiny_model_dir)
    assert not trainer.optimizer.optimizer.defaults["fused"]  # the CPU default the committed runs used
    fused, queries = make_trainer(tiny_model_dir, total_updates=2, fused_adamw=True)
    assert fused.optimizer.optimizer.defaults["fused"]
    history = fused.train(queries, progress=False)
    assert all(np.isfinite(h["loss/policy_avg"]) for h in history[1:])


@pytest.mark.slow  # inductor compiles the forward and backward on CPU (about 30 s)
def test_compiled_update_follows_the_eager_one(tiny_model_dir):
    """ppo.compile_update=default runs the minibatch loss through torch.compile: same rollouts and statistics as the
    eager update up to float rounding, and the weights end where the eager run's do."""
    import torch._dynamo

    torch.compiler.reset()
    eager, queries = make_trainer(tiny_model_dir, total_updates=3, num_minibatches=2)
    compiled, _ = make_trainer(tiny_model_dir, total_updates=3, num_minibatches=2, compile_update="default")
    assert compiled.minibatch_loss is not compiled._minibatch_loss  # the torch.compile wrapper, not the method
    torch._dynamo.utils.counters.clear()
    a, b = run(eager, queries, 0, 3), run(compiled, queries, 0, 3)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # dynamo traced the loss into a graph
    for row_a, row_b in zip(a, b, strict=True):
        assert row_a["val/response_length"] == row_b["val/response_length"]
        for key in ("loss/policy_avg", "loss/value_avg", "objective/entropy", "objective/kl", "val/ratio"):
            assert row_b[key] == pytest.approx(row_a[key], rel=1e-3, abs=1e-5), key
    for p, q in zip(eager.unwrapped.parameters(), compiled.unwrapped.parameters(), strict=True):
        torch.testing.assert_close(q, p, rtol=1e-3, atol=1e-4)
    assert not torch.equal(eager.unwrapped.policy.lm_head.weight, load_policy(tiny_model_dir).lm_head.weight)  # it trained

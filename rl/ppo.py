"""The math of PPO for RLHF, as small pure functions (Huang et al. 2024, "The N Implementation Details").

Tensors are (B, T) over response tokens unless noted; `mask` is 1 on real response tokens
(up to and including the first EOS) and 0 on padding.
"""

from __future__ import annotations

import math

import torch

from pipeline.errors import NumericalError


def check_finite(step: int, **quantities: torch.Tensor | float) -> None:
    """Raise on the first non-finite quantity. Tensors are checked with one host sync in all (each sync stalls the GPU
    queue until it drains, and the update loop checks every minibatch)."""
    tensors = [v.detach() for v in quantities.values() if isinstance(v, torch.Tensor)]
    flags = torch.stack([torch.isfinite(t).all() for t in tensors]).tolist() if tensors else []
    finite = iter(flags)
    for name, value in quantities.items():
        if not (next(finite) if isinstance(value, torch.Tensor) else math.isfinite(value)):
            raise NumericalError(
                f"ppo: non-finite {name} at update {step}; lower ppo.lr or raise ppo.kl_coef, and check the reward model"
            )


# ---------------------------------------------------------------- masked statistics
def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    n = mask.sum()
    if unbiased and n > 1:
        var = var * n / (n - 1)
    return var


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """(x - mean) / std over masked entries; shift_mean=False keeps the mean (used for rewards)."""
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    whitened = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


# ---------------------------------------------------------------- KL and rewards
def kl_per_token(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str) -> torch.Tensor:
    """Per-token estimate of KL(pi || pi_ref) from samples of pi (Schulman's k1 / k3)."""
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio
    if estimator == "k3":
        r = -log_ratio  # log(pi_ref / pi)
        return torch.expm1(r) - r
    raise ValueError(f"unknown KL estimator {estimator!r}")


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    return (mask.sum(1) - 1).clamp(min=0).long()


def token_rewards(
    scores: torch.Tensor, kl: torch.Tensor, kl_coef: float, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards: -beta * KL at every token, plus the sequence score at the last response token."""
    non_score = -kl_coef * kl * mask
    rewards = non_score.clone()
    rows = torch.arange(len(scores), device=scores.device)
    rewards[rows, last_token_index(mask)] += scores
    return rewards, non_score


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over the response tokens; returns (advantages, returns)."""
    rewards, values = rewards * mask, values * mask
    T = rewards.shape[1]
    last_gae = torch.zeros_like(rewards[:, 0])
    advantages = torch.zeros_like(rewards)
    for t in reversed(range(T)):
        next_value = values[:, t + 1] if t + 1 < T else torch.zeros_like(last_gae)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last_gae = delta + gamma * lam * last_gae
        advantages[:, t] = last_gae
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


# ---------------------------------------------------------------- losses
def policy_loss(logprobs, old_logprobs, advantages, mask, cliprange: float) -> tuple[torch.Tensor, dict]:
    log_ratio = (logprobs - old_logprobs) * mask
    ratio = torch.exp(log_ratio)
    pg_loss1 = -advantages * ratio
    pg_loss2 = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    pg_loss = masked_mean(torch.max(pg_loss1, pg_loss2), mask)
    with torch.no_grad():
        stats = {
            "clipfrac": masked_mean((pg_loss2 > pg_loss1).float(), mask),
            "approxkl": 0.5 * masked_mean(log_ratio**2, mask),
            "ratio": masked_mean(ratio, mask),
        }
    return pg_loss, stats


def value_loss(values, old_values, returns, mask, cliprange_value: float) -> tuple[torch.Tensor, dict]:
    values_clipped = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    vf_loss1 = (values - returns) ** 2
    vf_loss2 = (values_clipped - returns) ** 2
    vf_loss = 0.5 * masked_mean(torch.max(vf_loss1, vf_loss2), mask)
    with torch.no_grad():
        stats = {"vf_clipfrac": masked_mean((vf_loss2 > vf_loss1).float(), mask)}
    return vf_loss, stats


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Per-token entropy of the categorical distribution: (B, T, V) -> (B, T)."""
    logp = torch.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)


# ---------------------------------------------------------------- KL coefficient
class AdaptiveKLController:
    """Ziegler et al. 2019: move beta so the observed KL tracks a target over a horizon of episodes."""

    def __init__(self, init_kl_coef: float, target: float, horizon: int):
        self.value, self.target, self.horizon = init_kl_coef, target, horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        proportional_error = max(-0.2, min(0.2, current_kl / self.target - 1))
        self.value *= 1 + proportional_error * n_steps / self.horizon


class FixedKLController:
    def __init__(self, kl_coef: float):
        self.value = kl_coef

    def update(self, current_kl: float, n_steps: int) -> None:
        pass

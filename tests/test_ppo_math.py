"""The math of PPO, checked against brute force and analytic answers."""

import numpy as np
import pytest
import torch

from rl.ppo import (
    AdaptiveKLController,
    NumericalError,
    check_finite,
    gae,
    kl_per_token,
    masked_mean,
    masked_var,
    masked_whiten,
    policy_loss,
    token_rewards,
    value_loss,
)


def brute_force_gae(rewards, values, mask, gamma, lam):
    B, T = rewards.shape
    adv = np.zeros((B, T))
    for b in range(B):
        n = int(mask[b].sum())
        for t in range(n):
            total = 0.0
            for k in range(t, n):
                v_next = values[b, k + 1] if k + 1 < n else 0.0
                delta = rewards[b, k] + gamma * v_next - values[b, k]
                total += (gamma * lam) ** (k - t) * delta
            adv[b, t] = total
    return adv


def test_gae_matches_double_loop():
    g = torch.Generator().manual_seed(0)
    B, T = 6, 9
    rewards, values = torch.randn(B, T, generator=g, dtype=torch.float64), torch.randn(B, T, generator=g, dtype=torch.float64)
    lengths = torch.tensor([9, 1, 5, 3, 8, 2])
    mask = (torch.arange(T)[None] < lengths[:, None]).double()
    for gamma, lam in ((1.0, 0.95), (0.9, 0.5), (1.0, 1.0)):
        adv, ret = gae(rewards, values, mask, gamma, lam)
        expected = brute_force_gae(rewards.numpy(), values.numpy(), mask.numpy(), gamma, lam)
        np.testing.assert_allclose(adv.numpy(), expected, atol=1e-10)
        np.testing.assert_allclose(ret.numpy(), (expected + values.numpy() * mask.numpy()), atol=1e-10)


def test_masked_statistics_by_hand():
    x = torch.tensor([[1.0, 2.0, 100.0], [3.0, 4.0, -50.0]])
    m = torch.tensor([[1, 1, 0], [1, 1, 0]])
    assert masked_mean(x, m).item() == pytest.approx(2.5)
    assert masked_mean(x, m, dim=1).tolist() == pytest.approx([1.5, 3.5])
    assert masked_var(x, m).item() == pytest.approx(np.var([1, 2, 3, 4], ddof=1))
    w = masked_whiten(x, m)
    vals = w[m.bool()]
    assert vals.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert vals.std().item() == pytest.approx(1.0, abs=1e-3)
    assert w[0, 2] == 0 and w[1, 2] == 0
    kept = masked_whiten(x, m, shift_mean=False)[m.bool()]
    assert kept.mean().item() == pytest.approx(2.5, abs=1e-5)


def test_kl_estimators_match_exact_categorical_kl():
    p = torch.tensor([0.5, 0.2, 0.2, 0.1], dtype=torch.float64)
    q = torch.tensor([0.25, 0.25, 0.25, 0.25], dtype=torch.float64)
    exact = (p * (p / q).log()).sum().item()
    g = torch.Generator().manual_seed(0)
    y = torch.multinomial(p, 200_000, replacement=True, generator=g)
    lp, lq = p.log()[y], q.log()[y]
    for est in ("k1", "k3"):
        kl = kl_per_token(lp, lq, est)
        sem = kl.std().item() / np.sqrt(len(kl))
        assert abs(kl.mean().item() - exact) < 4 * sem
    assert (kl_per_token(lp, lq, "k3") >= 0).all()


def test_rewards_put_score_on_last_token():
    kl = torch.ones(2, 4)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    rewards, non_score = token_rewards(torch.tensor([10.0, 20.0]), kl, 0.5, mask)
    assert rewards.tolist() == [[-0.5, -0.5, 9.5, 0.0], [-0.5, -0.5, -0.5, 19.5]]
    assert non_score.sum().item() == pytest.approx(-3.5)


def test_clipped_losses_by_hand():
    old = torch.zeros(1, 2)
    new = torch.log(torch.tensor([[1.5, 0.5]]))
    adv = torch.tensor([[1.0, -1.0]])
    mask = torch.ones(1, 2)
    loss, stats = policy_loss(new, old, adv, mask, cliprange=0.2)
    # token 1: ratio 1.5, A=+1 -> clipped at 1.2 -> -1.2; token 2: ratio 0.5, A=-1 -> max(0.5, 0.8) = 0.8
    assert loss.item() == pytest.approx((-1.2 + 0.8) / 2)
    assert stats["clipfrac"].item() == pytest.approx(1.0)
    vloss, _ = value_loss(torch.tensor([[2.0]]), torch.tensor([[0.0]]), torch.tensor([[1.0]]), torch.ones(1, 1), 0.2)
    assert vloss.item() == pytest.approx(0.5 * max((2 - 1) ** 2, (0.2 - 1) ** 2))


def test_adaptive_kl_moves_towards_target():
    ctl = AdaptiveKLController(0.1, target=6.0, horizon=100)
    ctl.update(current_kl=12.0, n_steps=10)
    assert ctl.value == pytest.approx(0.1 * (1 + 0.2 * 10 / 100))
    ctl.update(current_kl=1.0, n_steps=10)
    assert ctl.value < 0.1 * 1.02


def test_non_finite_names_step_and_quantity():
    with pytest.raises(NumericalError, match="non-finite kl at update 7"):
        check_finite(7, reward=torch.zeros(2), kl=torch.tensor([0.0, float("nan")]))
    with pytest.raises(NumericalError, match="non-finite lr at update 2"):
        check_finite(2, loss=torch.ones(()), lr=float("inf"), norm=torch.tensor(float("nan")))  # the first bad one is named
    check_finite(0, a=torch.ones(3), b=1.0, c=torch.zeros(()))


def test_check_finite_reads_every_tensor_back_in_one_host_sync(monkeypatch):
    reads = []
    for method in ("item", "tolist", "__bool__"):
        real = getattr(torch.Tensor, method)
        monkeypatch.setattr(torch.Tensor, method, lambda self, *a, _r=real, _m=method: reads.append(_m) or _r(self, *a))
    check_finite(1, reward=torch.zeros(4), kl=torch.ones(4, 3), advantage=torch.ones(4, 3), lr=1e-4)
    assert reads == ["tolist"]


def test_one_step_bandit_converges_to_kl_regularised_optimum():
    """PPO with a per-token KL penalty beta reaches pi*(y) ~ pi_ref(y) exp(r(y)/beta)."""
    torch.manual_seed(0)
    n_actions, beta = 8, 0.5
    ref_logits = torch.randn(n_actions)
    reward = torch.linspace(-1, 1, n_actions)
    target = torch.softmax(ref_logits + reward / beta, 0)
    logits = ref_logits.clone().requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=0.05)
    mask = torch.ones(4096, 1)
    for _ in range(300):
        with torch.no_grad():
            y = torch.multinomial(torch.softmax(logits, 0), 4096, replacement=True)
            old_lp = torch.log_softmax(logits, 0)[y][:, None]
            ref_lp = torch.log_softmax(ref_logits, 0)[y][:, None]
            rewards, _ = token_rewards(reward[y], kl_per_token(old_lp, ref_lp, "k1"), beta, mask)
            adv, _ = gae(rewards, torch.zeros_like(rewards), mask, 1.0, 0.95)
            adv = masked_whiten(adv, mask)
        for _ in range(2):
            new_lp = torch.log_softmax(logits, 0)[y][:, None]
            loss, _ = policy_loss(new_lp, old_lp, adv, mask, 0.2)
            opt.zero_grad()
            loss.backward()
            opt.step()
    tv = 0.5 * (torch.softmax(logits.detach(), 0) - target).abs().sum().item()
    assert tv < 0.03, tv

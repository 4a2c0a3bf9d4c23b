"""Gao et al. reward-vs-KL fits: recovery of known coefficients, and the skip rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reports.data import load_frontier
from reports.fits import fit, fit_best_of_n, fit_frontier, fit_rl

FIXTURE = Path(__file__).parent / "fixtures" / "results"


def bon(d: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return d * (alpha - beta * d)


def rl(d: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return d * (alpha - beta * np.log(d))


@pytest.mark.parametrize(("alpha", "beta"), [(0.9, 0.4), (1.6, 0.2), (0.3, -0.05)])
def test_best_of_n_recovers_noiseless(alpha: float, beta: float) -> None:
    n = np.array([1, 2, 4, 8, 16, 32])
    d = np.sqrt(np.log(n) - (n - 1) / n)  # analytic best-of-n KL, d = 0 at n = 1
    f = fit_best_of_n(d, bon(d, alpha, beta))
    assert f is not None and f.kind == "best_of_n"
    assert f.alpha == pytest.approx(alpha, abs=1e-9)
    assert f.beta == pytest.approx(beta, abs=1e-9)
    assert f.n_points == 6 and f.rmse < 1e-9
    np.testing.assert_allclose(f(d), bon(d, alpha, beta), atol=1e-9)


@pytest.mark.parametrize(("alpha", "beta"), [(0.45, 0.2), (1.3, 0.1), (0.8, 0.5)])
def test_rl_recovers_noiseless(alpha: float, beta: float) -> None:
    d = np.linspace(0.2, 3.0, 8)
    f = fit_rl(d, rl(d, alpha, beta))
    assert f is not None and f.kind == "rl"
    assert (f.alpha, f.beta) == (pytest.approx(alpha, abs=1e-9), pytest.approx(beta, abs=1e-9))


def test_fits_recover_slightly_noisy_points() -> None:
    rng = np.random.default_rng(0)
    d = np.linspace(0.1, 2.5, 40)
    f_bon = fit_best_of_n(d, bon(d, 1.0, 0.3) + rng.normal(0, 0.01, d.size))
    f_rl = fit_rl(d, rl(d, 0.6, 0.25) + rng.normal(0, 0.01, d.size))
    assert f_bon is not None and f_rl is not None
    assert f_bon.alpha == pytest.approx(1.0, abs=0.03) and f_bon.beta == pytest.approx(0.3, abs=0.02)
    assert f_rl.alpha == pytest.approx(0.6, abs=0.03) and f_rl.beta == pytest.approx(0.25, abs=0.03)
    assert 0.005 < f_rl.rmse < 0.02


def test_offset_is_subtracted_and_added_back() -> None:
    d = np.array([0.0, 0.5, 1.0, 1.5])
    f = fit_best_of_n(d, 0.25 + bon(d, 0.9, 0.4), offset=0.25)
    assert f is not None
    assert (f.alpha, f.beta) == (pytest.approx(0.9), pytest.approx(0.4))
    assert float(f(0.0)) == pytest.approx(0.25)


def test_too_few_points_give_none() -> None:
    assert fit_best_of_n([], []) is None
    assert fit_best_of_n([0.5], [0.3]) is None
    # two points but only one distinct d: beta is not identifiable
    assert fit_best_of_n([0.5, 0.5], [0.3, 0.31]) is None
    # best-of-n: d = 0 is a usable point but carries no information
    assert fit_best_of_n([0.0, 0.5], [0.0, 0.3]) is None


def test_rl_drops_nonpositive_and_nonfinite_points() -> None:
    d = np.array([-1.0, 0.0, np.nan, 0.5, 1.5, 2.5])
    # the first three points hold garbage that would wreck the fit if they were kept
    r = np.concatenate([[5.0, 5.0, 5.0], rl(d[3:], 0.45, 0.2)])
    f = fit_rl(d, r)
    assert f is not None and f.n_points == 3
    assert (f.alpha, f.beta) == (pytest.approx(0.45), pytest.approx(0.2))
    assert fit_rl([0.0, -0.2, 1.0], [0.0, 0.0, 0.5]) is None


def test_fit_dispatch_and_label() -> None:
    d = np.array([0.5, 1.0, 2.0])
    f = fit("rl", d, rl(d, 0.45, 0.2))
    assert f is not None and "α=0.45" in f.label() and "log d" in f.label()
    with pytest.raises(ValueError, match="unknown fit kind"):
        fit("dpo", d, d)  # type: ignore[arg-type]


def test_fit_frontier_on_fixture_recovers_generating_coefficients() -> None:
    frontier = load_frontier(FIXTURE)
    assert frontier is not None
    fits = fit_frontier(frontier)
    assert set(fits) == {
        ("ppo", "gold_reward"),
        ("ppo", "proxy_reward"),
        ("best_of_n", "gold_reward"),
        ("best_of_n", "proxy_reward"),
    }
    ppo_gold, ppo_proxy, bon_proxy = (
        fits[("ppo", "gold_reward")],
        fits[("ppo", "proxy_reward")],
        fits[("best_of_n", "proxy_reward")],
    )
    assert ppo_gold is not None and ppo_proxy is not None and bon_proxy is not None
    # the fixture's ppo gold is base (0.1034) + d(0.45 - 0.2 log d), rounded to 4 decimals
    assert ppo_gold.offset == pytest.approx(0.1034)
    assert (ppo_gold.alpha, ppo_gold.beta) == (pytest.approx(0.45, abs=2e-3), pytest.approx(0.2, abs=2e-3))
    assert (ppo_proxy.alpha, ppo_proxy.beta) == (pytest.approx(1.3, abs=2e-3), pytest.approx(0.1, abs=2e-3))
    assert (bon_proxy.alpha, bon_proxy.beta) == (pytest.approx(1.6, abs=2e-3), pytest.approx(0.2, abs=2e-3))

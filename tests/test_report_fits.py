"""Gao et al. reward-vs-KL fits: recovery of known coefficients, and the skip rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reporting.data import load_frontier
from reporting.figures import fit_segment
from reporting.fits import MIN_POINTS, fit, fit_best_of_n, fit_frontier, fit_rl

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


def test_rl_keeps_the_base_point_and_drops_negative_and_nonfinite_points() -> None:
    d = np.array([-1.0, np.nan, 0.0, 0.5, 1.5, 2.5])
    # the first two points hold garbage that would wreck the fit if they were kept; d = 0 is the base policy (r = offset)
    r = np.concatenate([[5.0, 5.0, 0.0], rl(d[3:], 0.45, 0.2)])
    f = fit_rl(d, r)
    assert f is not None and f.n_points == 4 and (f.d_min, f.d_max) == (0.0, 2.5)
    assert (f.alpha, f.beta) == (pytest.approx(0.45), pytest.approx(0.2))
    assert fit_rl([0.0, -0.2, 1.0], [0.0, 0.0, 0.5]) is None


def test_supported_needs_a_peak_and_enough_points() -> None:
    d = np.linspace(0.2, 3.0, 6)
    peaked = fit_rl(d, rl(d, 0.5, 0.4))
    assert peaked is not None and peaked.supported and peaked.peak() == pytest.approx(np.exp(0.5 / 0.4 - 1))
    convex = fit_rl(d, rl(d, 1.2, -0.15))
    assert convex is not None and not convex.supported and convex.peak() is None
    few = fit_rl(d[:3], rl(d[:3], 0.5, 0.4))
    assert few is not None and few.n_points == 3 < MIN_POINTS and not few.supported
    bon_fit = fit_best_of_n(d, bon(d, 0.6, 0.1))
    assert bon_fit is not None and bon_fit.peak() == pytest.approx(3.0)


def test_fit_segment_stays_in_the_fitted_range_and_the_gold_range() -> None:
    d = np.linspace(0.5, 3.0, 6)
    steep = fit_best_of_n(d, bon(d, 1.5, 0.1), offset=-0.2)  # reaches 3.3 at d = 3: beyond the gold's range
    assert steep is not None and steep.supported
    xs, ys = fit_segment(steep, "gold_reward")
    assert xs.min() == pytest.approx(0.5) and xs.max() == pytest.approx(3.0)
    assert np.nanmax(ys) <= 1.0 and np.isnan(ys).any()
    _, proxy = fit_segment(steep, "proxy_reward")
    assert not np.isnan(proxy).any() and proxy.max() > 1.0  # the proxy has no fixed range
    assert fit_segment(fit_rl(d, rl(d, 1.2, -0.15)), "gold_reward") is None
    assert fit_segment(None, "gold_reward") is None


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
    curves = ("ppo_kl0p01", "ppo_kl0p03", "ppo_kl0p1", "best_of_n")
    assert set(fits) == {(c, m) for c in curves for m in ("gold_reward", "proxy_reward")}
    # planted (tests/fixtures/make_results.py): RL gold = base (-0.1) + d (0.5 - 0.4 log d), RL proxy beta = -0.15,
    # best-of-n gold = base + d (0.6 - 0.1 d); 11 eval points per curve (the final-policy row is not one of them)
    for curve in curves[:3]:
        gold, proxy = fits[(curve, "gold_reward")], fits[(curve, "proxy_reward")]
        assert gold is not None and proxy is not None and gold.n_points == 11
        assert gold.offset == pytest.approx(-0.1)
        assert (gold.alpha, gold.beta) == (pytest.approx(0.5, abs=2e-3), pytest.approx(0.4, abs=2e-3)) and gold.supported
        assert proxy.beta == pytest.approx(-0.15, abs=2e-3) and not proxy.supported
    bon_gold = fits[("best_of_n", "gold_reward")]
    assert bon_gold is not None and bon_gold.n_points == 7
    assert (bon_gold.alpha, bon_gold.beta) == (pytest.approx(0.6, abs=2e-3), pytest.approx(0.1, abs=2e-3))


def test_fits_table_wording_for_unsupported_and_too_few_points() -> None:
    from reporting.sections import fit_status

    d = np.linspace(0.2, 3.0, 6)
    assert fit_status(None) == "too few points (fewer than two distinct √KL)"
    assert fit_status(fit_rl(d[:3], rl(d[:3], 0.5, 0.4))) == f"too few points (3 < {MIN_POINTS})"
    assert fit_status(fit_rl(d, rl(d, 1.2, -0.15))) == "not supported by these points (β ≤ 0: no peak)"
    assert fit_status(fit_rl(d, rl(d, 0.5, 0.4))) == "drawn; peak at KL 1.65"

"""Gao, Schulman & Hilton (2022) reward-vs-KL functional forms, fitted by least squares.

With d = sqrt(KL(pi || pi_base)) and R the reward *relative to the base policy*:

    best-of-n:  R(d) = d (alpha - beta d)
    RL:         R(d) = d (alpha - beta log d)

Both are linear in (alpha, beta), so the least-squares fit is closed form
(`numpy.linalg.lstsq` on a two-column design matrix). Absolute rewards are
handled with `offset`: the fit is done on `r - offset` and the fitted curve
adds it back, so plots can stay in the original units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

FitKind = Literal["best_of_n", "rl"]
MIN_POINTS = 4  # two coefficients from fewer points say nothing about the shape


@dataclass(frozen=True)
class GaoFit:
    """A fitted Gao et al. curve: R(d) = offset + d (alpha - beta f(d)), f(d) = d (best-of-n) or log d (RL)."""

    kind: FitKind
    alpha: float
    beta: float
    offset: float
    n_points: int
    rmse: float
    d_min: float = 0.0  # the fitted range of sqrt-KL: the curve is drawn only there
    d_max: float = 0.0

    @property
    def supported(self) -> bool:
        """Does the form say something about these points? It needs beta > 0 (a peak: over-optimisation) and MIN_POINTS points.

        With beta <= 0 the form is convex with no peak, the opposite of what it models, so it is
        reported as not supported instead of drawn.
        """
        return self.beta > 0 and self.n_points >= MIN_POINTS

    def peak(self) -> float | None:
        """sqrt-KL at which the fitted reward peaks (inside or outside the fitted range), when supported."""
        if not self.supported:
            return None
        return self.alpha / (2 * self.beta) if self.kind == "best_of_n" else float(np.exp(self.alpha / self.beta - 1))

    def __call__(self, d: np.ndarray | Sequence[float] | float) -> np.ndarray:
        """Evaluate the fitted curve at sqrt-KL values `d` (RL: d <= 0 gives the limit offset)."""
        d = np.asarray(d, dtype=float)
        return self.offset + _basis(self.kind, d) @ np.array([self.alpha, self.beta])

    def label(self) -> str:
        """A short legend label with the coefficients."""
        form = "d(α − βd)" if self.kind == "best_of_n" else "d(α − β log d)"
        return f"{form}: α={self.alpha:.3g}, β={self.beta:.3g}"


def _basis(kind: FitKind, d: np.ndarray) -> np.ndarray:
    """Design matrix columns [d, -d f(d)], shape (..., 2)."""
    if kind == "best_of_n":
        second = -d * d
    else:
        # d log d -> 0 as d -> 0, so define it as 0 there instead of nan
        with np.errstate(divide="ignore", invalid="ignore"):
            second = np.where(d > 0, -d * np.log(np.where(d > 0, d, 1.0)), 0.0)
    return np.stack([d, second], axis=-1)


def _fit(kind: FitKind, d: Sequence[float], r: Sequence[float], offset: float) -> GaoFit | None:
    d_arr = np.asarray(d, dtype=float)
    r_arr = np.asarray(r, dtype=float) - offset
    keep = np.isfinite(d_arr) & np.isfinite(r_arr)
    # negative sqrt-KL is meaningless; d = 0 (the base policy) is a point of both forms (d log d -> 0)
    keep &= d_arr >= 0
    d_arr, r_arr = d_arr[keep], r_arr[keep]
    if d_arr.size < 2:
        return None
    X = _basis(kind, d_arr)  # (N, 2)
    coef, _, rank, _ = np.linalg.lstsq(X, r_arr, rcond=None)
    if rank < 2:
        # e.g. only one distinct d > 0: alpha and beta are not identifiable
        return None
    rmse = float(np.sqrt(np.mean((X @ coef - r_arr) ** 2)))
    return GaoFit(
        kind=kind,
        alpha=float(coef[0]),
        beta=float(coef[1]),
        offset=float(offset),
        n_points=int(d_arr.size),
        rmse=rmse,
        d_min=float(d_arr.min()),
        d_max=float(d_arr.max()),
    )


def fit_best_of_n(d: Sequence[float], r: Sequence[float], offset: float = 0.0) -> GaoFit | None:
    """Fit r - offset = d (alpha - beta d); None with fewer than 2 usable (finite, d >= 0) points or a rank-deficient design."""
    return _fit("best_of_n", d, r, offset)


def fit_rl(d: Sequence[float], r: Sequence[float], offset: float = 0.0) -> GaoFit | None:
    """Fit r - offset = d (alpha - beta log d) (d = 0 contributes r = offset); None with fewer than 2 usable points."""
    return _fit("rl", d, r, offset)


def fit(kind: FitKind, d: Sequence[float], r: Sequence[float], offset: float = 0.0) -> GaoFit | None:
    """Dispatch to `fit_best_of_n` or `fit_rl` by name."""
    if kind not in ("best_of_n", "rl"):
        raise ValueError(f"unknown fit kind {kind!r}: expected 'best_of_n' or 'rl'")
    return _fit(kind, d, r, offset)


# ---------------------------------------------------------------- frontier.csv
FRONTIER_METRICS = ("gold_reward", "proxy_reward")


def _base_offset(frontier: pd.DataFrame, metric: str) -> float:
    """The base policy's own reward: its row in the frontier (method policy, curve base); 0 without one."""
    values = frontier.loc[(frontier["method"] == "policy") & (frontier["curve"] == "base"), metric].dropna()
    return float(values.mean()) if len(values) else 0.0


def fit_frontier(frontier: pd.DataFrame) -> dict[tuple[str, str], GaoFit | None]:
    """Fit every (curve, metric) of a frontier table (columns method, curve, sqrt_kl, gold_reward, proxy_reward).

    Best-of-n gets the best-of-n form, every RL curve the RL form; rewards are relative to the
    base policy's (`_base_offset`). Final-policy rows (method "policy") are single points, not curves.
    """
    fits: dict[tuple[str, str], GaoFit | None] = {}
    curves = frontier.loc[frontier["method"] != "policy", ["method", "curve"]].drop_duplicates()
    for method, curve in curves.itertuples(index=False):
        rows = frontier[
            (frontier["curve"] == curve) & (frontier["method"] == method)
        ]  # not the final-policy row of the same name
        kind: FitKind = "best_of_n" if method == "best_of_n" else "rl"
        for metric in FRONTIER_METRICS:
            fits[(curve, metric)] = fit(
                kind, rows["sqrt_kl"].to_numpy(float), rows[metric].to_numpy(float), _base_offset(frontier, metric)
            )
    return fits

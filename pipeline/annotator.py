"""The simulated human annotator: a noisy Bradley-Terry judge of gold scores (AlpacaFarm-style).

p(a > b) = sigmoid((g_a - g_b) / tau); then, with probability epsilon, the label is replaced
by a fair coin. Each pair's draws come from a generator seeded by (seed, pair key), so a
label does not depend on the order or number of other pairs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


def preference_probability(gold_a, gold_b, tau: float):
    """Bradley-Terry probability that a is preferred to b."""
    return 1.0 / (1.0 + np.exp(-(np.asarray(gold_a, dtype=float) - np.asarray(gold_b, dtype=float)) / tau))


def label_agreement_probability(p, epsilon: float):
    """Probability that a noisy label says 'a > b' given the noise-free BT probability p."""
    return (1.0 - epsilon) * np.asarray(p) + epsilon / 2.0


def accuracy_ceiling(gold_a, gold_b, tau: float, epsilon: float) -> float:
    """The best expected agreement any reward model can have with the noisy labels.

    The Bayes-optimal predictor picks the more probable label of each pair, so it agrees with
    probability max(q, 1 - q), q = (1 - eps) p + eps / 2; the ceiling is the mean over pairs.
    """
    q = label_agreement_probability(preference_probability(gold_a, gold_b, tau), epsilon)
    return float(np.mean(np.maximum(q, 1.0 - q))) if np.size(q) else float("nan")


def pairs_accuracy_ceiling(pairs: list[dict], annotator) -> float | None:
    """The accuracy ceiling on preference pairs, e.g. the held-out pairs a reward model's accuracy is measured on
    (simulated labels only: real ones have no gold scores)."""
    if not pairs or "gold_chosen" not in pairs[0]:
        return None
    return accuracy_ceiling(
        [p["gold_chosen"] for p in pairs], [p["gold_rejected"] for p in pairs], annotator.tau, annotator.epsilon
    )


def pair_rng(seed: int, key: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@dataclass(frozen=True)
class Judgement:
    a_preferred: bool
    p_a: float  # noise-free BT probability that a is preferred
    coin: bool  # the label came from the epsilon coin


def judge(gold_a: float, gold_b: float, tau: float, epsilon: float, rng: np.random.Generator) -> Judgement:
    p = float(preference_probability(gold_a, gold_b, tau))
    u_label, u_coin, u_flip = rng.random(3)  # always three draws, so the stream shape never depends on the branch
    coin = bool(u_coin < epsilon)
    a_preferred = bool(u_flip < 0.5) if coin else bool(u_label < p)
    return Judgement(a_preferred, p, coin)

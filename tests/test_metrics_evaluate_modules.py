"""The Hugging Face `evaluate` modules load offline from their local path and agree with the functions."""

import math
from pathlib import Path

import numpy as np
import pytest

from metrics import correlations, distinct_n, ead, self_bleu

MODULES = Path(__file__).resolve().parents[1] / "metrics" / "evaluate_modules"
TEXTS = ["the cat sat on the mat", "the cat sat on a hat", "a dog ran far away", "the dog ran to the cat"]
IDS = [[1, 2, 3, 4, 1, 5], [1, 2, 3, 4, 6, 7], [6, 8, 9, 10, 11], [1, 8, 9, 12, 1, 2]]


@pytest.fixture
def offline_evaluate(monkeypatch, tmp_path):
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))  # used if evaluate is not imported yet
    return pytest.importorskip("evaluate")


def test_diversity_module_matches_functions(offline_evaluate, tmp_path):
    diversity = offline_evaluate.load(str(MODULES / "diversity"), cache_dir=str(tmp_path), keep_in_memory=True)
    whole = diversity.compute(predictions=TEXTS, token_ids=IDS, vocab_size=20)
    assert whole == pytest.approx(
        {
            "distinct_1": distinct_n(IDS, 1),
            "distinct_2": distinct_n(IDS, 2),
            "distinct_3": distinct_n(IDS, 3),
            "ead": ead(IDS, 20),
            "self_bleu": self_bleu(TEXTS),
        }
    )
    grouped = diversity.compute(predictions=TEXTS, groups=[0, 0, 1, 1])
    words = [t.split() for t in TEXTS]
    assert grouped["distinct_2"] == pytest.approx((distinct_n(words[:2], 2) + distinct_n(words[2:], 2)) / 2)
    assert grouped["self_bleu"] == pytest.approx((self_bleu(TEXTS[:2]) + self_bleu(TEXTS[2:])) / 2)
    assert "ead" not in grouped


def test_reward_gap_module_matches_functions(offline_evaluate, tmp_path):
    gap = offline_evaluate.load(str(MODULES / "reward_gap"), cache_dir=str(tmp_path), keep_in_memory=True)
    proxy, gold = [1.2, 0.4, 2.5, -0.3], [0.9, 0.5, 1.0, -0.1]
    out = gap.compute(predictions=proxy, references=gold)
    assert out == pytest.approx({"proxy_gold_gap": float(np.mean(np.subtract(proxy, gold))), **correlations(proxy, gold)})
    flat = gap.compute(predictions=[0.5, 0.5, 0.5], references=[0.0, 1.0, 2.0])
    assert flat["constant_output"] and math.isnan(flat["pearson"])

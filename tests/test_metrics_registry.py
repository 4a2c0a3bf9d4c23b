"""Registry: registration, lookup, directions reported by metric_info."""

import numpy as np
import pytest

from metrics import METRICS, Metric, compute_metric, evaluate_policy, get_metric, metric_info, register


@pytest.fixture
def scratch_metric():
    """Register test metrics under a name and remove them afterwards."""
    names = []
    yield names
    for name in names:
        METRICS.pop(name, None)


def test_builtin_directions():
    info = metric_info()
    lower = {"kl", "proxy_gold_gap", "perplexity", "repetition", "length", "self_bleu_per_input", "self_bleu_across_input"}
    higher = {
        "gold_reward",
        "proxy_reward",
        "proxy_reward_norm",
        "win_rate_vs_base",
        "eos_rate",
        "distinct_1_per_input",
        "distinct_2_across_input",
        "ead_per_input",
        "ead_across_input",
    }
    assert all(info[name]["higher_is_better"] is False for name in lower)
    assert all(info[name]["higher_is_better"] is True for name in higher)
    assert all(set(v) == {"higher_is_better", "description"} and v["description"] for v in info.values())


def test_register_lower_is_better_is_reported(scratch_metric):
    @register("test_loss", higher_is_better=False)
    def test_loss(record):
        """Squared gold reward."""
        return record["gold_reward"] ** 2

    scratch_metric.append("test_loss")
    assert metric_info()["test_loss"] == {"higher_is_better": False, "description": "Squared gold reward."}
    assert get_metric("test_loss").fn is test_loss and get_metric("test_loss").aggregation([1.0, 3.0]) == 2.0


def test_register_function_form_and_custom_aggregation(scratch_metric):
    register("test_max_gold", lambda r: r["gold_reward"], aggregation=np.max, description="max gold")
    scratch_metric.append("test_max_gold")
    samples = [{"prompt_id": i, "sample_idx": 0, "gold_reward": g} for i, g in enumerate([0.1, 0.7, 0.3])]
    ci = compute_metric("test_max_gold", samples, n_boot=50)
    assert ci["mean"] == 0.7 and ci["ci_high"] == 0.7 and 0.1 <= ci["ci_low"] <= 0.7


def test_duplicate_and_unknown_names(scratch_metric):
    with pytest.raises(ValueError, match="already registered"):
        register("kl", lambda r: 0.0)
    with pytest.raises(KeyError, match="unknown metric"):
        get_metric("no_such_metric")
    with pytest.raises(ValueError, match="level"):
        Metric("bad", lambda r: 0.0, level="token")


def test_registered_metric_reaches_evaluate_policy(scratch_metric):
    register("test_first_token", lambda r: float(r["response_ids"][0]))
    scratch_metric.append("test_first_token")
    samples = [
        {
            "prompt_id": 0,
            "sample_idx": s,
            "response": "a b",
            "response_ids": [s + 1, 2],
            "n_tokens": 2,
            "ended_with_eos": True,
            "logprob": -1.0,
            "ref_logprob": -1.5,
            "gold_reward": 0.0,
            "proxy_reward": 0.0,
            "proxy_reward_norm": 0.0,
        }
        for s in range(2)
    ]
    out = evaluate_policy(samples, None, vocab_size=10, n_boot=20)
    assert out["test_first_token"]["mean"] == 1.5
    assert "win_rate_vs_base" not in out  # needs base samples

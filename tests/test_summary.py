"""The DVC metrics file (results/summary.json): keys name roles, never knob values, so sweeps of the knobs diff;
plug-in metrics marked headline reach it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from metrics import METRICS
from pipeline.config import MetricPluginConfig, curve_name
from pipeline.errors import ConfigError
from reporting import compare
from reporting.summary import KL_BUDGETS, as_policies, matched_kl, register_plugins, summary_metrics

ROOT = Path(__file__).resolve().parents[1]


def ci(mean: float) -> dict[str, float]:
    return {"mean": mean, "ci_low": mean - 0.1, "ci_high": mean + 0.1}


def curve_points(method: str, name: str, kls: list[float], golds: list[float]) -> list[dict]:
    return [
        {"method": method, "curve": name, "point": i, "kl": kl, "gold_reward": g, "gold_reward_ci_low": g - 0.1}
        | {"gold_reward_ci_high": g + 0.1}
        for i, (kl, g) in enumerate(zip(kls, golds, strict=True))
    ]


def run(ppo_knobs: list[float], gold_shift: float = 0.0) -> tuple[dict, pd.DataFrame]:
    """metrics.json and frontier.csv of a run with PPO at ppo_knobs, DPO at 0.05 and best-of-n."""
    knobs = {"ppo": ppo_knobs, "dpo": [0.05]}
    curves = {curve_name(m, k): {"method": m, "knob": k} for m, ks in knobs.items() for k in ks}
    policies = {"base": {"gold_reward": ci(-0.7), "proxy_reward_norm": ci(0.0), "kl": ci(0.0), "length": ci(9.0)}}
    rows = curve_points("best_of_n", "best_of_n", [0.0, 0.31, 1.0, 3.17], [-0.7, -0.6, -0.5, -0.35])
    for i, name in enumerate(curves):
        policies[name] = {"gold_reward": ci(-0.5 + i / 10 + gold_shift), "proxy_reward_norm": ci(1.0), "kl": ci(5.0 + i)}
        policies[name]["length"] = ci(10.0 + i)
        rows += curve_points(curves[name]["method"], name, [0.0, 2.0, 8.0, 20.0], [-0.7, -0.4 + i / 10, -0.3 + i / 10, -0.6])
    policies["mine"] = {"gold_reward": ci(0.1), "kl": ci(1.0)}
    full = {
        "policies": policies,
        "curves": curves,
        "reward_model": {"accuracy": 0.6, "accuracy_gold": 0.7, "ece": 0.02},
        "base_policy": {"perplexity": 200.0, "steps": 600},
        "run": {"seed": 0},
    }
    policy_rows = [{"method": "policy", "curve": n, "point": 0, "kl": 99.0, "gold_reward": 0.9} for n in policies]
    return full, pd.DataFrame(rows + policy_rows)


def flat(d: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for k, v in d.items():
        out |= flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v}
    return out


def test_keys_name_roles_and_the_knob_is_a_value():
    summary = flat(summary_metrics(*run([0.01, 0.1])))
    assert summary["ppo.curve1.kl_coef"] == 0.01 and summary["ppo.curve2.kl_coef"] == 0.1
    assert summary["dpo.curve1.beta"] == 0.05
    assert summary["ppo.curve2.gold"] == pytest.approx(-0.4) and summary["ppo.curve2.kl"] == 6.0
    assert summary["base.gold"] == -0.7 and summary["base.perplexity"] == 200.0 and "base.kl" not in summary
    assert summary["reward_model.accuracy_gold"] == 0.7 and "reward_model.ece" not in summary
    assert summary["extra.mine.gold"] == 0.1
    # a sweep to other values (and another length of the list's tail) keeps every key
    other = flat(summary_metrics(*run([0.05, 0.5])))
    assert set(other) == set(summary) and other["ppo.curve1.kl_coef"] == 0.05
    assert all(isinstance(v, int | float) for v in summary.values())
    assert not [k for k in summary if re.search(r"\d+p\d|0\.\d", k)], "a key carries a knob value"


def test_matched_kl_takes_the_best_curve_at_each_budget_and_leaves_unreached_budgets_out():
    points = pd.DataFrame(
        curve_points("ppo", "a", [0.0, 2.0, 4.0], [-0.7, -0.5, -0.1])
        + curve_points("ppo", "b", [0.0, 1.0, 10.0], [-0.7, 0.0, -0.2])
    )
    got = matched_kl(points)
    # KL 1: a interpolates to -0.6, b is at 0.0; KL 3: a at -0.3, b at 0.0 - 2/9 * 0.2; KL 6 and 12: b only / neither
    assert got["gold_at_kl1"] == pytest.approx(0.0)
    assert got["gold_at_kl3"] == pytest.approx(-0.2 * 2 / 9)
    assert got["gold_at_kl6"] == pytest.approx(-0.2 * 5 / 9)
    assert "gold_at_kl12" not in got and set(KL_BUDGETS) == {1, 3, 6, 12}
    assert (got["best_gold"], got["best_gold_kl"]) == (0.0, 1.0)


def test_methods_get_matched_kl_from_their_curves_not_their_final_policies():
    summary = summary_metrics(*run([0.01, 0.1]))
    # PPO's second curve peaks at -0.2 at KL 8; the final-policy rows (gold 0.9 at KL 99) are not curve points
    assert (summary["ppo"]["best_gold"], summary["ppo"]["best_gold_kl"]) == (pytest.approx(-0.2), 8.0)
    assert summary["ppo"]["gold_at_kl6"] == pytest.approx(-0.3 + 4 / 6 * 0.1)  # curve2, from -0.3 at KL 2 to -0.2 at 8
    assert set(summary["best_of_n"]) == {"gold_at_kl1", "gold_at_kl3", "best_gold", "best_gold_kl"}


def test_real_labels_have_no_gold_keys():
    full, frontier = run([0.01])
    for stats in full["policies"].values():
        stats.pop("gold_reward")
    frontier["gold_reward"] = float("nan")
    summary = flat(summary_metrics(full, frontier))
    assert not [k for k in summary if "gold" in k.split(".")[-1] and k != "reward_model.accuracy_gold"]
    assert summary["ppo.curve1.kl"] == 5.0


def test_compare_reads_the_role_keyed_file_as_policies():
    summary = summary_metrics(*run([0.01, 0.1]))
    view = as_policies(summary)
    assert view["curves"]["ppo_kl0p1"] == {"method": "ppo", "knob": 0.1, "role": "ppo.curve2"}
    values, info = compare.extract_policies(view)
    assert values["ppo_kl0p1"]["gold_reward"] == summary["ppo"]["curve2"]["gold"]
    # the base's KL to itself is a constant the file leaves out; compare restores it (win rate is not a headline)
    assert (values["base"]["kl"], values["base"]["sqrt_kl"], values["base"]["win_rate_vs_base"]) == (0.0, 0.0, None)
    assert info["ppo_kl0p01"].label == "PPO (β=0.01)" and info["mine"].series == "mine"


def test_the_committed_run_gives_a_summary_without_knob_values_that_compare_reads():
    full = json.loads((ROOT / "results" / "metrics.json").read_text())
    summary = summary_metrics(full, pd.read_csv(ROOT / "results" / "frontier.csv"))
    keys = flat(summary)
    assert not [k for k in keys if "_kl0" in k or re.search(r"\dp\d", k)]
    assert {"ppo.curve1.kl_coef", "ppo.gold_at_kl1", "ppo.best_gold", "best_of_n.gold_at_kl3", "base.gold"} <= set(keys)
    assert len(keys) <= 45  # headline numbers only: every interval and variant stays in results/metrics.json
    values, _ = compare.extract_policies(as_policies(summary))
    assert values["base"]["sqrt_kl"] == 0.0 and values["base"]["gold_reward"] == full["policies"]["base"]["gold_reward"]["mean"]


@pytest.fixture
def plugin_names():
    names: list[str] = []
    yield names
    for name in names:
        METRICS.pop(name, None)


def test_headline_plugins_are_registered_and_reach_the_summary(plugin_names):
    spec = {"response_chars": MetricPluginConfig(fn="plugins.examples:response_chars", higher_is_better=False, headline=True)}
    spec["quiet_chars"] = MetricPluginConfig(fn="plugins.examples:response_chars")
    plugin_names += list(spec)
    assert register_plugins(spec) == ["response_chars"]
    assert METRICS["response_chars"].fn({"response": "abc"}) == 3.0 and not METRICS["response_chars"].higher_is_better
    full, frontier = run([0.01])
    full["policies"]["base"]["response_chars"] = ci(40.0)
    full["policies"]["ppo_kl0p01"]["response_chars"] = ci(55.0)
    summary = summary_metrics(full, frontier, ["response_chars"])
    assert summary["base"]["response_chars"] == 40.0 and summary["ppo"]["curve1"]["response_chars"] == 55.0
    assert "quiet_chars" not in flat(summary) and "length" not in flat(summary)


@pytest.mark.parametrize(
    ("fn", "message"),
    [("plugins.nowhere:f", "cannot load"), ("plugins.examples:nothing", "cannot load"), ("plugins:__doc__", "not callable")],
)
def test_a_plugin_that_cannot_load_names_its_key(fn, message, plugin_names):
    with pytest.raises(ConfigError, match=rf"evaluate\.metrics\.x\.fn: .*{message}"):
        register_plugins({"x": MetricPluginConfig(fn=fn)})


def test_a_plugin_may_not_replace_a_builtin_or_a_key_of_the_summary():
    with pytest.raises(ConfigError, match="evaluate.metrics.kl: a built-in"):
        register_plugins({"kl": MetricPluginConfig(fn="plugins.examples:response_chars")})
    for name in ("gold", "beta", "kl_coef"):  # ppo.curve1.gold, dpo.curve1.beta: the plug-in would overwrite them
        with pytest.raises(ConfigError, match=f"evaluate.metrics.{name}: results/summary.json uses"):
            register_plugins({name: MetricPluginConfig(fn="plugins.examples:response_chars")})
    assert name not in METRICS


@pytest.mark.parametrize(
    "metrics",
    [
        {"two words": {"fn": "plugins.examples:response_chars"}},  # a name becomes a metrics key and a report column
        {"chars": {"fn": "plugins.examples.response_chars"}},  # not module:function
        {"chars": {"fn": "plugins.examples:response_chars", "level": "token"}},
        {"chars": {"fn": "plugins.examples:response_chars", "headlines": True}},  # a typo is an error, not ignored
    ],
)
def test_plugin_params_are_validated(metrics):
    from pydantic import ValidationError

    from pipeline.config import Params

    with pytest.raises(ValidationError, match="evaluate"):
        Params.model_validate({"evaluate": {"metrics": metrics}})
    assert Params.model_validate({"evaluate": {"metrics": {"chars": {"fn": "plugins.examples:response_chars"}}}})

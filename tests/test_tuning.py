"""The learning-rate tuning (bench/tune.py) chooses on validation proxy and KL only, and the report says whether a run
trained at the chosen rates (reporting/tuning.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import tune
from pipeline.config import parse_params
from pipeline.errors import ConfigError
from reporting.tuning import as_tuned, tuning_section


def test_the_objective_is_the_kl_regularised_proxy():
    assert tune.objective(1.5, 4.0, 0.1) == pytest.approx(1.1)
    # a higher proxy bought with much more KL loses at a large coefficient and wins at a small one
    assert tune.objective(2.0, 20.0, 0.1) < tune.objective(1.5, 4.0, 0.1)
    assert tune.objective(2.0, 20.0, 0.01) > tune.objective(1.5, 4.0, 0.01)


def test_the_last_point_keeps_proxy_and_kl_and_drops_the_gold(tmp_path: Path):
    columns = ["update", "proxy_reward_norm", "kl", "gold_reward", "gold_reward_norm"]
    bounds = [f"{c}{s}" for c in columns[1:] for s in ("_ci_low", "_ci_high")]
    rows = [[0, 0.0, 0.0, -0.6, 0.0], [40, 1.2, 5.0, -0.3, 0.8]]
    lines = [",".join(columns + bounds)]
    lines += [",".join(map(str, r + [v + d for v in r[1:] for d in (-0.1, 0.1)])) for r in rows]
    (tmp_path / "eval.csv").write_text("\n".join(lines) + "\n")
    point = tune.last_point(tmp_path / "eval.csv")
    assert point["update"] == 40 and point["proxy_reward_norm"] == 1.2 and point["kl"] == 5.0
    assert point["kl_ci_low"] == pytest.approx(4.9)
    assert not [k for k in point if "gold" in k]


def test_validation_prompts_come_from_the_validation_split(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/corpus").mkdir(parents=True)
    validation = [f"validation entry number {i} has enough words to cut a prompt" for i in range(10)]
    (tmp_path / "data/corpus/validation.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in validation))
    params = parse_params({"ppo": {"n_eval_prompts": 8}})
    prompts = tune.validation_prompts(params)
    assert len(prompts) == 8 and all(p["reference"] in validation for p in prompts)
    with pytest.raises(ConfigError, match="ppo.n_eval_prompts"):
        tune.validation_prompts(parse_params({"ppo": {"n_eval_prompts": 20}}))


RECORD = {
    "procedure": "one lr grid per method,\n   chosen by   J = proxy - coefficient x KL.",
    "methods": {
        "ppo": {
            "coefficient": 0.1,
            "chosen_lr": 3e-4,
            "runs": [
                {"lr": 1e-4, "proxy_reward_norm": 1.0, "kl": 4.0, "objective": 0.6},
                {"lr": 3e-4, "proxy_reward_norm": 1.6, "kl": 6.0, "objective": 1.0},
            ],
        },
        "dpo": {
            "coefficient": 0.05,
            "chosen_lr": 1e-4,
            "runs": [{"lr": 1e-4, "proxy_reward_norm": 0.3, "kl": 1.0, "objective": 0.25}],
        },
    },
}


def test_the_section_says_which_methods_train_at_the_tuned_rate():
    curves = {
        "ppo_kl0p01": {"method": "ppo", "lr": 3e-4},
        "ppo_kl0p1": {"method": "ppo", "lr": 3e-4},
        "dpo_kl0p05": {"method": "dpo", "lr": 3e-5},
        "rloo_kl0p03": {"method": "rloo", "lr": 1e-4},
    }
    assert as_tuned(RECORD, curves) == {"dpo": False, "ppo": True, "rloo": None}
    text = tuning_section(RECORD, curves, "tuning/tuning.json")
    assert "J = proxy - coefficient x KL." in text and "\n   " not in text.split("|")[0]
    ppo_row = next(line for line in text.splitlines() if line.startswith("| PPO"))
    assert "| 0.0003 |" in ppo_row and ppo_row.endswith("| yes |")
    assert next(line for line in text.splitlines() if line.startswith("| DPO")).endswith("| **no**: trains at 3e-05 |")
    assert "Not tuned (the params' rate): RLOO." in text
    # PPO's chosen rate is the largest it tried; DPO tried one rate only
    assert "Chosen at the edge of the grid: PPO." in text
    assert "gold" not in text.lower().replace("never on the gold", "")


def test_without_a_record_the_section_says_the_rates_are_the_params():
    assert "make tune" in tuning_section(None, {"ppo_kl0p1": {"method": "ppo", "lr": 1e-4}}, "")


def _record(runs: dict[str, list[tuple[float, float]]], sha: str = "abc") -> dict:
    return {
        "seed": 0,
        "validation_prompts": 64,
        "reward_model_sha256": sha,
        "methods": {
            m: {"coefficient": 0.1, "runs": [{"lr": lr, "objective": j} for lr, j in pairs]} for m, pairs in runs.items()
        },
    }


def test_extending_the_grid_adds_rates_and_rechooses_per_method():
    old = tune.choose(_record({"ppo": [(3e-5, 0.6), (1e-4, 1.2), (3e-4, 2.1)], "dpo": [(1e-4, 0.4), (3e-4, 0.7)]}))
    assert old["methods"]["ppo"]["chosen_lr"] == 3e-4
    merged = tune.choose(tune.extend_record(old, _record({"ppo": [(1e-3, 1.9)], "dpo": [(1e-3, 0.9)]})))
    assert [r["lr"] for r in merged["methods"]["ppo"]["runs"]] == [3e-5, 1e-4, 3e-4, 1e-3]
    assert merged["methods"]["ppo"]["chosen_lr"] == 3e-4  # the wider grid confirms an interior optimum
    assert merged["methods"]["dpo"]["chosen_lr"] == 1e-3
    assert old["methods"]["ppo"]["chosen_lr"] == 3e-4 and len(old["methods"]["ppo"]["runs"]) == 3  # not mutated


def test_extending_refuses_another_reward_model_or_a_repeated_rate():
    old = _record({"ppo": [(1e-4, 1.2)]})
    with pytest.raises(ConfigError, match="reward_model_sha256"):
        tune.extend_record(old, _record({"ppo": [(1e-3, 1.0)]}, sha="other"))
    with pytest.raises(ConfigError, match="already has lr 0.0001"):
        tune.extend_record(old, _record({"ppo": [(1e-4, 1.0)]}))

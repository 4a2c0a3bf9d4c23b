"""params.yaml validation: every error path is one line naming the key, raised before any work."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.config import ConfigError, Params, load_params, parse_params

ROOT = Path(__file__).resolve().parents[1]


def error_for(raw: dict) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_params(raw)
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_defaults_are_valid_and_documented():
    params = parse_params({})
    assert params.seed == 0 and params.device == "auto"
    for section in ("data", "policy", "annotator", "preferences", "reward_model", "ppo", "generate", "evaluate", "report"):
        assert section in Params.model_fields


def test_repository_params_file_loads():
    assert isinstance(load_params(ROOT / "params.yaml"), Params)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"sed": 1}, "sed: unknown key"),
        ({"ppo": {"kl_coeff": 0.1}}, "ppo.kl_coeff: unknown key"),
        ({"seed": "1"}, "seed: Input should be a valid integer"),
        ({"ppo": {"lr": -1e-5}}, "ppo.lr: Input should be greater than 0"),
        ({"ppo": {"kl_coef": -0.1}}, "ppo.kl_coef: Input should be greater than or equal to 0"),
        ({"ppo": {"batch_size": 10, "num_minibatches": 3}}, "ppo.batch_size: 10 must be divisible by ppo.num_minibatches=3"),
        ({"device": "tpu"}, "device: Input should be 'auto', 'cpu' or 'cuda'"),
        ({"policy": {"n_embd": 100, "n_head": 3}}, "policy.n_embd: 100 must be divisible"),
        ({"data": {"source": "file"}}, "data.path: required when data.source=file"),
        ({"data": {"source": "hub"}}, "data.hub_dataset: required"),
        ({"preferences": {"source": "file"}}, "preferences.path: required"),
        ({"annotator": {"epsilon": 1.5}}, "annotator.epsilon: Input should be less than or equal to 1"),
        ({"generate": {"policies": ["base", "dpo"]}}, "generate.policies: unknown policy 'dpo'"),
        ({"generate": {"policies": ["ppo"]}}, "generate.policies: must include 'base'"),
        ({"generate": {"extra_policies": {"ppo": "x"}}}, "generate.extra_policies: names ['ppo'] are reserved"),
        ({"evaluate": {"best_of_n_max": 32}}, "evaluate.best_of_n_max: 32 exceeds generate.samples_per_prompt=16"),
        ({"ppo": {"adaptive_kl": "yes"}}, "ppo.adaptive_kl: Input should be a valid boolean"),
        ({"ppo": ["not", "a", "mapping"]}, "ppo: Input should be a valid dictionary"),
    ],
)
def test_bad_values_name_the_key(raw, expected):
    assert expected in error_for(raw)


def test_invalid_yaml_and_non_mapping(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("seed: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_params(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "missing.yaml")


def test_stage_exits_nonzero_with_one_line_before_work(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["ppo"] = dict(params.get("ppo") or {}, kl_coef=-1)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run([sys.executable, "-m", "stages.prepare"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert errors == ["error: params.yaml: ppo.kl_coef: Input should be greater than or equal to 0 (got -1)"]
    assert not (tmp_path / "data").exists() and not (tmp_path / "results").exists()


def test_response_cutting_must_agree_across_stages():
    msg = error_for({"ppo": {"stop_at_eos": True}})
    assert "ppo.stop_at_eos" in msg and "disagree" in msg
    both = parse_params({"ppo": {"stop_at_eos": True}, "preferences": {"stop_at_eos": True}, "generate": {"stop_at_eos": True}})
    assert both.ppo.stop_at_eos

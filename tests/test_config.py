"""params.yaml validation: every error path is one line naming the key, raised before any work."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.config import Params, load_params, parse_params
from pipeline.errors import ConfigError

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
    for section in (
        "data",
        "policy",
        "annotator",
        "preferences",
        "reward_model",
        "ppo",
        "curves",
        "generate",
        "evaluate",
        "report",
    ):
        assert section in Params.model_fields


def test_every_params_field_has_a_description():
    """params.yaml carries each field's description as its comment: a field without one is undocumented."""
    from pydantic import BaseModel

    missing = []
    for section, field in Params.model_fields.items():
        inner = field.annotation
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            missing += [f"{section}.{key}" for key, f in inner.model_fields.items() if not (f.description or "").strip()]
        elif not (field.description or "").strip():
            missing.append(section)
    assert not missing, missing
    from pipeline.profiles import profile_params, render

    reference = render(profile_params("default"), "default", every_key=True)  # `--all`: the documented reference
    for key, field in Params.model_fields["ppo"].annotation.model_fields.items():
        assert f"  {key}: " in reference and field.description.split(" (")[0][:30] in reference, key


def test_repository_params_file_loads():
    assert isinstance(load_params(ROOT / "params.yaml"), Params)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"sed": 1}, "sed: unknown key"),
        ({"ppo": {"kl_coeff": 0.1}}, "ppo.kl_coeff: unknown key"),
        ({"seed": "1"}, "seed: Input should be a valid integer"),
        ({"ppo": {"lr": -1e-5}}, "ppo.lr: Input should be greater than 0"),
        ({"curves": {"ppo_kl_coef": [0.1, -0.1]}}, "curves.ppo_kl_coef: [0.1, -0.1] must be finite and >= 0"),
        ({"curves": {"ppo_kl_coef": [0.1, 0.1]}}, "curves.ppo_kl_coef: [0.1, 0.1] repeats a value"),
        ({"ppo": {"kl_coef": 0.1}}, "ppo.kl_coef: unknown key"),
        ({"ppo": {"batch_size": 10, "num_minibatches": 3}}, "ppo.batch_size: 10 must be divisible by ppo.num_minibatches=3"),
        ({"device": "tpu"}, "device: Input should be 'auto', 'cpu' or 'cuda'"),
        ({"policy": {"n_embd": 100, "n_head": 3}}, "policy.n_embd: 100 must be divisible"),
        ({"data": {"source": "file"}}, "data.path: required when data.source=file"),
        ({"data": {"source": "hub"}}, "data.hub_dataset: required"),
        ({"preferences": {"source": "file"}}, "preferences.path: required"),
        ({"annotator": {"epsilon": 1.5}}, "annotator.epsilon: Input should be less than or equal to 1"),
        ({"generate": {"policies": ["base", "sft"]}}, "generate.policies: unknown policy 'sft'"),
        ({"curves": {"dpo_beta": [0.1, 0.0]}}, "curves.dpo_beta: [0.1, 0.0] holds 0"),
        ({"curves": {"rloo_kl_coef": [0.1, 0.1]}}, "curves.rloo_kl_coef: [0.1, 0.1] repeats a value"),
        ({"rloo": {"batch_size": 10, "num_generations": 4}}, "rloo.batch_size: 10 must be divisible by rloo.num_generations=4"),
        ({"grpo": {"loss_type": "ppo"}}, "grpo.loss_type: Input should be"),
        ({"generate": {"policies": ["ppo"]}}, "generate.policies: must include 'base'"),
        ({"generate": {"extra_policies": {"ppo": "x"}}}, "generate.extra_policies: ['ppo'] are names of the pipeline's own"),
        # a curve's own name (issue 26 case 1): the extra would replace ppo@0.05's samples and its report row
        (
            {"curves": {"ppo_kl_coef": [0.05]}, "generate": {"extra_policies": {"ppo_kl0p05": "x"}}},
            "generate.extra_policies: ['ppo_kl0p05'] are names of the pipeline's own",
        ),
        ({"generate": {"extra_policies": {"base": "x"}}}, "generate.extra_policies: ['base'] are names"),
        ({"generate": {"extra_policies": {"best_of_n": "x"}}}, "generate.extra_policies: ['best_of_n'] are names"),
        ({"generate": {"extra_policies": {"rloo_kl0p03": "x"}}}, "generate.extra_policies: ['rloo_kl0p03'] are names"),
        ({"sampling": {"temperature": 1e-300}}, "sampling.temperature: 1e-300 is below 0.001"),
        # TRL / HF names point to the project's key (issue 26: `dvc exp run -S ppo.kl_coef=0.05`)
        ({"ppo": {"kl_coef": 0.05}}, "ppo.kl_coef: unknown key; this project's key is curves.ppo_kl_coef"),
        ({"rloo": {"kl_coef": 0.05}}, "rloo.kl_coef: unknown key; this project's key is curves.rloo_kl_coef"),
        ({"dpo": {"beta": 0.1}}, "dpo.beta: unknown key; this project's key is curves.dpo_beta"),
        ({"grpo": {"beta": 0.1}}, "grpo.beta: unknown key; this project's key is curves.grpo_kl_coef"),
        ({"dpo": {"learning_rate": 0.1}}, "dpo.learning_rate: unknown key; this project's key is dpo.lr"),
        (
            {"reward_model": {"num_train_epochs": 2}},
            "reward_model.num_train_epochs: unknown key; this project's key is reward_model.epochs",
        ),
        ({"ppo": {"num_train_epochs": 2}}, "ppo.num_train_epochs: unknown key; this project's key is ppo.total_updates"),
        (
            {"ppo": {"per_device_train_batch_size": 8}},
            "ppo.per_device_train_batch_size: unknown key; this project's key is ppo.batch_size",
        ),
        ({"dpo": {"max_steps": 8, "nope": 1}}, "dpo.nope: unknown key (check the spelling"),
        ({"beta": 0.1}, "beta: unknown key; this project's key is curves.dpo_beta"),
        ({"evaluate": {"best_of_n_max": 128}}, "evaluate.best_of_n_max: 128 exceeds generate.base_samples_per_prompt=64"),
        (
            {"generate": {"samples_per_prompt": 80}},
            "generate.base_samples_per_prompt: 64 is below generate.samples_per_prompt=80",
        ),
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
    params["ppo"] = dict(params.get("ppo") or {}, vf_coef=-1)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run(
        [sys.executable, "-m", "stages.prepare"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert errors == ["error: params.yaml: ppo.vf_coef: Input should be greater than or equal to 0 (got -1)"]
    assert not (tmp_path / "data").exists() and not (tmp_path / "results").exists()


def test_sampling_is_one_section_and_the_old_per_stage_keys_are_refused():
    # one place decides how responses are cut, so the reward model scores what the policies sample
    for section, key in (("preferences", "max_new_tokens"), ("ppo", "response_length"), ("generate", "temperature")):
        assert f"{section}.{key}: unknown key" in error_for({section: {key: 8}})
    params = parse_params({"sampling": {"stop_at_eos": True, "cache": "static", "max_new_tokens": 8}})
    assert (params.sampling.stop_at_eos, params.sampling.cache, params.sampling.max_new_tokens) == (True, "static", 8)
    assert "sampling.cache: Input should be 'auto', 'dynamic' or 'static'" in error_for({"sampling": {"cache": "paged"}})


def test_eos_penalty_is_accepted_when_responses_stop_at_eos():
    params = parse_params({"sampling": {"stop_at_eos": True}, "ppo": {"missing_eos_penalty": 1.0}})
    assert params.ppo.missing_eos_penalty == 1.0
    assert "with sampling.stop_at_eos=false" in error_for({"ppo": {"missing_eos_penalty": 1.0}})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_refused_everywhere(value):
    for raw in (
        {"ppo": {"lr": value}},
        {"annotator": {"tau": value}},
        {"data": {"val_fraction": value}},
        {"ppo": {"vf_coef": value}},
    ):
        assert "Input should be a finite number" in error_for(raw)


@pytest.mark.parametrize("name", ["../../pwned", "a/b", "x.y", "a|b", "<b>", "", "1st", "a" * 65, "name with space"])
def test_extra_policy_names_must_be_identifiers(name):
    assert "is not an identifier" in error_for({"generate": {"extra_policies": {name: "somewhere"}}})


def test_identifier_names_and_the_context_checks_of_pretrained_bases_pass():
    assert parse_params({"generate": {"extra_policies": {"my-policy_2": "dir"}}}).generate.extra_policies == {
        "my-policy_2": "dir"
    }
    # the block_size bound is the scratch model's context only; a pretrained base is checked against its own config on load
    assert (
        parse_params({"policy": {"base": "gpt2", "block_size": 32}, "sampling": {"max_new_tokens": 100}}).sampling.max_new_tokens
        == 100
    )
    assert "sampling.max_new_tokens: 32 new tokens leave no room" in error_for(
        {"policy": {"block_size": 32}, "sampling": {"max_new_tokens": 32}}
    )


def test_empty_params_file_is_refused(tmp_path):
    (tmp_path / "params.yaml").write_text("# only a comment\n")
    with pytest.raises(ConfigError, match="params.yaml: empty; write one with `python -m pipeline.profiles default`"):
        load_params(tmp_path / "params.yaml")


@pytest.mark.parametrize("profile", ["default", "tiny", "quick", "gpu", "methods", "smollm2", "gpt2"])
def test_rendered_profiles_hold_what_dvc_and_a_reader_need(profile):
    """Each profile's params.yaml holds every experiment key and every params entry dvc.yaml names (DVC fails on a
    missing one), keeps the profile's other changes, leaves out the remaining defaults, and loads back unchanged."""
    from pipeline.profiles import EXPERIMENT_KEYS, profile_params, render

    params = profile_params(profile)
    raw = yaml.safe_load(render(params, profile))

    def has(dotted: str) -> bool:
        node = raw
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    stage_params = {
        e
        for stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].values()
        for e in stage.get("params", [])
        if isinstance(e, str)  # not validate's `- params.yaml:` (the whole file)
    }
    assert stage_params and not [k for k in sorted(stage_params | set(EXPERIMENT_KEYS)) if not has(k)]
    assert parse_params(raw) == params
    changed = [
        f"{section}.{key}"
        for section, value in params.model_dump().items()
        if isinstance(value, dict)
        for key in value
        if value[key] != Params().model_dump()[section][key]
    ]
    assert all(has(k) for k in changed)
    if profile == "default":
        assert not has("ppo.gamma") and len(EXPERIMENT_KEYS) <= 40  # a default stays out of params.yaml
    if profile == "tiny":
        assert has("ppo.batch_size") and raw["ppo"]["batch_size"] == 8


def test_committed_params_yaml_is_the_rendered_default_profile():
    """The code's defaults and params.yaml cannot drift apart: `python -m pipeline.profiles default` rewrites it unchanged."""
    from pipeline.profiles import profile_params, render

    assert (ROOT / "params.yaml").read_text() == render(profile_params("default"), "default")


def test_profiles_all_prints_the_full_reference(capsys):
    from pipeline import profiles

    profiles.main(["default", "--all", "--out", "-"])
    text = capsys.readouterr().out
    raw = yaml.safe_load(text)
    assert raw["ppo"]["gamma"] == Params().ppo.gamma and "  gamma: 1.0  # " in text
    assert sum(len(v) if isinstance(v, dict) else 1 for v in raw.values()) == sum(
        len(f.annotation.model_fields) if isinstance(f.annotation, type) and hasattr(f.annotation, "model_fields") else 1
        for f in Params.model_fields.values()
    )


def test_unknown_key_error_points_to_the_full_key_list():
    """params.yaml lists only the experiment's keys, so a misspelt key's error names the command listing them all."""
    with pytest.raises(ConfigError) as err:
        parse_params({"ppo": {"gama": 0.9}})
    assert str(err.value).startswith("params.yaml: ppo.gama: unknown key") and "pipeline.profiles default --all" in str(err.value)


# ---------------------------------------------------------------- issue 26's hostile cases
@pytest.mark.parametrize(
    "text, expected",
    [
        ("seed: 1\nseed: 2\n", "duplicate key 'seed' at line 2 (first at line 1)"),
        ("ppo:\n  lr: 0.1\ncurves:\n  dpo_beta: [0.1]\nppo:\n  lr: 0.2\n", "duplicate key 'ppo' at line 5 (first at line 1)"),
        ("ppo:\n  lr: 0.1\n  vf_coef: 0.2\n  lr: 0.3\n", "duplicate key 'lr' at line 4 (first at line 2)"),
    ],
)
def test_duplicate_keys_and_sections_are_refused(tmp_path, text, expected):
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_params(tmp_path / "params.yaml")
    assert expected in str(exc.value) and "\n" not in str(exc.value)


def test_a_direct_stage_run_refuses_a_duplicate_section(tmp_path):
    text = (ROOT / "params.yaml").read_text() + "ppo:\n  lr: 0.5\n"  # a second ppo section: the last used to win
    (tmp_path / "params.yaml").write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "stages.prepare"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    first = text.splitlines().index("ppo:") + 1
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert errors == [
        f"error: params.yaml: not valid YAML (duplicate key 'ppo' at line {len(text.splitlines()) - 1} (first at line {first}); keep one)"
    ]
    assert not (tmp_path / "data").exists()


def test_a_memory_bomb_is_refused_with_the_estimate_and_the_machine_memory(monkeypatch):
    from pipeline import config

    bomb = {"policy": {"n_embd": 16384, "n_layer": 128, "n_head": 128}}
    msg = error_for(bomb)
    have = config.machine_memory_bytes() / 2**30
    assert msg.startswith("params.yaml: policy: a scratch GPT-2 with n_layer=128, n_embd=16384")
    assert "412,412.3 M parameters" in msg and f"this machine's {have:,.1f} GiB of memory" in msg
    # the default model (2.6 M parameters) needs well under 1 GiB, so any machine takes it
    assert config.training_memory_bytes(parse_params({})) < 2**30
    monkeypatch.setattr(config, "machine_memory_bytes", lambda: 2**26)  # a 64 MiB machine refuses the default too
    assert "needs about 0.2 GiB to train" in error_for({}) and "machine's 0.1 GiB" in error_for({})
    monkeypatch.setattr(config, "machine_memory_bytes", lambda: None)  # an OS that does not say: no guard
    assert parse_params({}).policy.n_layer == 4
    # a pretrained base's size is known only when it loads: not estimated here
    monkeypatch.setattr(config, "machine_memory_bytes", lambda: 2**28)
    assert parse_params({"policy": {"base": "gpt2"}}).policy.base == "gpt2"


def test_parameter_count_is_gpt2s():
    from transformers import GPT2Config, GPT2LMHeadModel

    from pipeline.config import scratch_parameter_count

    cfg = parse_params({"policy": {"vocab_size": 300, "n_layer": 2, "n_embd": 16, "n_head": 2, "block_size": 64}}).policy
    model = GPT2LMHeadModel(GPT2Config(vocab_size=300, n_layer=2, n_embd=16, n_head=2, n_positions=64, tie_word_embeddings=True))
    assert scratch_parameter_count(cfg) == sum(p.numel() for p in model.parameters())


def test_an_extra_policy_can_never_replace_a_builtin_one():
    from pipeline.config import policy_sources

    params = parse_params({"curves": {"ppo_kl_coef": [0.05]}, "generate": {"extra_policies": {"mine": "inputs/policies/mine"}}})
    assert policy_sources(params) == {
        "base": Path("models/base"),
        "ppo_kl0p05": Path("models/ppo/kl0.05"),
        "dpo_kl0p05": Path("models/dpo/kl0.05"),
        "rloo_kl0p03": Path("models/rloo/kl0.03"),
        "mine": Path("inputs/policies/mine"),
    }
    # params that skipped validation (model_construct) still cannot overwrite ppo@0.05's folder
    forged = params.model_copy(
        update={"generate": params.generate.model_copy(update={"extra_policies": {"ppo_kl0p05": "inputs/policies/x"}})}
    )
    with pytest.raises(ConfigError, match=r"generate.extra_policies: \['ppo_kl0p05'\] would replace"):
        policy_sources(forged)

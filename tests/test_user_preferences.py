"""Bring-your-own preferences: each accepted file form goes through the preferences stage; one trains a reward model."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.io import read_jsonl
from pipeline.stage import run_stage

ROOT = Path(__file__).resolve().parents[1]

ROWS = [
    {"prompt": f"Q{i}: how was the day", "chosen": " wonderful and happy, great fun", "rejected": " awful, sad and terrible"}
    for i in range(40)
]


def write_file(root, form):
    if form == "jsonl":
        (root / "prefs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
        return "prefs.jsonl"
    if form == "csv":
        pd.DataFrame(ROWS).to_csv(root / "prefs.csv", index=False)
        return "prefs.csv"
    implicit = [{"chosen": r["prompt"] + r["chosen"], "rejected": r["prompt"] + r["rejected"]} for r in ROWS]
    pd.DataFrame(implicit).to_parquet(root / "prefs.parquet")
    return "prefs.parquet"


def setup_workspace(root, model_dir, form):
    shutil.copytree(model_dir, root / "models" / "base")
    (root / "data" / "prompts").mkdir(parents=True)
    (root / "data" / "prompts" / "eval.jsonl").write_text(
        "".join(json.dumps({"prompt_id": i, "prompt": f"the day {i}"}) + "\n" for i in range(4))
    )
    params = {
        "preferences": {"source": "file", "path": write_file(root, form), "test_fraction": 0.3},
        "reward_model": {"epochs": 1.0, "batch_size": 8, "max_length": 32},
        "sampling": {"max_new_tokens": 4},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))


@pytest.mark.parametrize("form", ["jsonl", "csv", "implicit-parquet"])
def test_user_file_becomes_preference_data(form, tmp_path, tiny_model_dir, monkeypatch):
    import stages.preferences

    setup_workspace(tmp_path, tiny_model_dir, form)
    monkeypatch.chdir(tmp_path)
    run_stage(stages.preferences.main)
    pairs = read_jsonl("data/preferences/train.jsonl") + read_jsonl("data/preferences/test.jsonl")
    assert len(pairs) == len(ROWS)
    assert all(
        p["prompt"].startswith("Q") and "happy" in p["chosen"] and p["chosen_ids"][-1] == p["rejected_ids"][-1] for p in pairs
    )
    if form == "jsonl":
        import stages.reward_model

        run_stage(stages.reward_model.main)
        metrics = json.loads((tmp_path / "results/reward_model/metrics.json").read_text())
        assert metrics["accuracy_gold"] is None and metrics["accuracy_ceiling"] is None  # no gold for user labels
        # nor any correlation with the configured gold scorer, which never judged these labels (issue 26)
        assert not {"gold_pearson", "gold_spearman"} & set(metrics) and "gold_mean" not in metrics["normalization"]
        assert pd.read_csv(tmp_path / "results/reward_model/scores.csv").columns.tolist() == ["proxy"]
        assert (tmp_path / "models/reward/model.safetensors").exists()


@pytest.mark.parametrize("stage", ["prepare", "preferences"])
@pytest.mark.parametrize("where", ["outside", "repo root"])
def test_preference_file_not_under_inputs_is_told_to_move_under_inputs_preferences(stage, where, tmp_path, monkeypatch):
    """Stage prepare also reads inputs/corpus: the fix must name the preference folder, not the corpus one."""
    from pipeline.errors import ConfigError
    from pipeline.user_files import require_dependency

    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    path = tmp_path / "prefs.jsonl" if where == "outside" else repo / "prefs.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n")
    monkeypatch.chdir(repo)
    with pytest.raises(ConfigError, match=r"preferences.path: .*prefs.jsonl") as err:
        require_dependency(str(path), "preferences.path", stage)
    assert "inputs/preferences/" in str(err.value) and "inputs/corpus" not in str(err.value)


# ---------------------------------------------------------------- a real-style file end to end (issue 26)
TOPICS = ["the garden", "my old bike", "a rainy day", "the night sky", "fresh bread", "the river", "a long walk", "the sea"]


def real_style_rows(n: int = 48, empty_every: int = 16, long_every: int = 12) -> list[dict]:
    """TRL's implicit-prompt conversational form, as HH-RLHF converted: two dialogues that share a multi-turn history
    (far past the tiny profile's 32 positions) and differ in the last assistant turn; every `empty_every`-th row's chosen
    last turn is empty, as a few rows of real datasets are, and every `long_every`-th answer alone outgrows the context."""
    rows = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        history = [
            {"role": "user", "content": f"Hello there, I have been thinking about {topic} for day {i} of the week."},
            {"role": "assistant", "content": f"Hello! I am glad to talk about {topic}; what would you like to know?"},
            {"role": "user", "content": f"What is the nicest thing about {topic}, and why do people like it so much?"},
        ]
        chosen = "Calm, kind and full of joy." * (8 if i % long_every == 5 else 1) if i % empty_every else ""
        rows.append(
            {
                "chosen": history + [{"role": "assistant", "content": chosen}],
                "rejected": history + [{"role": "assistant", "content": "Go away."}],
            }
        )
    return rows


@pytest.mark.slow  # a whole dvc repro on the tiny profile
def test_real_style_preference_file_runs_dvc_repro_end_to_end(tmp_path):
    from pipeline.models import load_tokenizer
    from tests.dvc_repo import BIN, commit, make_repo, ran_stages, set_param, sh

    repo = make_repo(tmp_path)
    (repo / "inputs/preferences/dialogues.jsonl").write_text("".join(json.dumps(r) + "\n" for r in real_style_rows()))
    for key, value in {
        "preferences.source": "file",
        "preferences.path": "inputs/preferences/dialogues.jsonl",
        "preferences.test_fraction": 0.25,
        "curves.ppo_kl_coef": [0.05],  # one curve per method: every path that feeds a model, at the least cost
    }.items():
        set_param(repo, key, value)
    commit(repo, "a real-style preference file")
    proc = sh(repo, str(BIN / "dvc"), "repro", timeout=1800)  # eleven stages: past dvc()'s 600 s on a busy 2-core machine
    assert {name.split("@")[0] for name in ran_stages(proc.stdout)} == {
        "validate", "prepare", "base_policy", "preferences", "reward_model", "ppo", "dpo", "rloo", "grpo", "generate", "evaluate", "report"
    }  # fmt: skip
    log = proc.stdout + proc.stderr
    # the 3 rows with an empty last answer are dropped with one line (in each stage that reads the file) and counted
    assert log.count("dialogues.jsonl: dropped 3 of 48 rows with an empty chosen or rejected response") == 2, log[-3000:]
    prefs = json.loads((repo / "results/preferences/metrics.json").read_text())
    assert prefs["n_empty_dropped"] == 3 and prefs["n_pairs"] == 45 and prefs["gold_available"] is False
    # the prompts are the multi-turn histories, longer than the 32 positions: sampling kept their last tokens
    tok = load_tokenizer(repo / "models/base")
    prompts = read_jsonl(repo / "data/prompts/train.jsonl") + read_jsonl(repo / "data/prompts/eval.jsonl")
    assert min(len(tok(p["prompt"])["input_ids"]) for p in prompts) > 32
    assert "kept their last" in log
    assert "dpo: left out" in log  # the 4 answers longer than the whole context (the reward model kept their last tokens)
    rm = json.loads((repo / "results/reward_model/metrics.json").read_text())
    assert not {"gold_pearson", "gold_spearman"} & set(rm) and 0 <= rm["accuracy"] <= 1
    metrics = json.loads((repo / "results/metrics.json").read_text())
    assert {"base", "ppo_kl0p05", "dpo_kl0p1", "rloo_kl0p05", "grpo_kl0p05"} <= set(metrics["policies"])
    assert "No gold for this data" in (repo / "REPORT.md").read_text()
    # no curve's evaluation points are judged by the configured gold scorer, whichever method drew them
    evals = list((repo / "results/curves").glob("*/kl*/eval.csv"))
    assert len(evals) == 4 and all("gold_reward" not in path.read_text().splitlines()[0].split(",") for path in evals)

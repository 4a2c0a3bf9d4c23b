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

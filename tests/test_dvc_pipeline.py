"""End to end: the real dvc.yaml on the tiny profile in a throwaway git repo.

One reference run is shared by the tests (module fixture); each test leaves the repo as it found it.
"""

import json
import random
import sys

import pytest

from tests.dvc_repo import commit, dvc, make_repo, ran_stages, repro_killed_after, set_param

STAGES = ["prepare", "base_policy", "preferences", "reward_model", "ppo", "generate", "evaluate", "report"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = make_repo(tmp_path_factory.mktemp("e2e"))
    out = dvc(path, "repro").stdout
    assert ran_stages(out) == STAGES
    commit(path, "reference run")
    return path


def metrics_bytes(repo):
    return (repo / "results" / "metrics.json").read_bytes()


def test_pipeline_outputs_and_noop_rerun(repo):
    metrics = json.loads(metrics_bytes(repo))
    assert {"base", "ppo"} <= set(metrics["policies"])
    assert set(metrics["best_of_n"]) == {"1", "2", "4"}
    assert {"mean", "ci_low", "ci_high"} <= set(metrics["policies"]["ppo"]["gold_reward"])
    for section in ("preferences", "reward_model", "base_policy", "ppo"):
        assert section in metrics
    report = (repo / "REPORT.md").read_text()
    assert "reports/figures/frontier.png" in report and (repo / "reports/figures/frontier.png").exists()
    for model in ("base", "reward", "ppo"):
        assert (repo / "models" / model / "model.safetensors").exists()
    second = dvc(repo, "repro").stdout
    assert ran_stages(second) == []
    assert "Data and pipelines are up to date" in dvc(repo, "status").stdout
    assert dvc(repo, "push").returncode == 0


def test_params_changes_rerun_only_downstream(repo):
    set_param(repo, "report.n_samples_shown", 1)
    assert ran_stages(dvc(repo, "repro").stdout) == ["report"]
    set_param(repo, "evaluate.bootstrap_samples", 60)
    assert ran_stages(dvc(repo, "repro").stdout) == ["evaluate", "report"]
    dvc(repo, "exp", "apply", "HEAD", check=False)
    (repo / "params.yaml").write_text(_head_file(repo, "params.yaml"))
    dvc(repo, "checkout", "-f")
    assert ran_stages(dvc(repo, "repro").stdout) in ([], ["evaluate", "report"])


def _head_file(repo, name):
    import subprocess

    return subprocess.run(["git", "show", f"HEAD:{name}"], cwd=repo, capture_output=True, text=True, check=True).stdout


def test_forced_rerun_is_byte_identical(repo):
    reference = metrics_bytes(repo)
    dvc(repo, "repro", "--force")
    assert metrics_bytes(repo) == reference


def test_killed_runs_resume_to_the_same_metrics(repo):
    """SIGKILL `dvc repro --force` at several seeded random points (inside many stages), then finish."""
    reference = metrics_bytes(repo)
    rng = random.Random(0)
    killed = repro_killed_after(repo, rng.uniform(3, 12), "--force")
    for _ in range(4):
        killed = repro_killed_after(repo, rng.uniform(4, 14)) or killed
    assert killed
    dvc(repo, "repro")
    assert metrics_bytes(repo) == reference
    assert "Data and pipelines are up to date" in dvc(repo, "status").stdout


def test_experiment_run_and_diffs(repo):
    out = dvc(repo, "exp", "run", "-S", "ppo.kl_coef=0.5", "-n", "kl05").stdout
    assert ran_stages(out)[0] == "ppo"
    params_diff = dvc(repo, "params", "diff").stdout
    assert "ppo.kl_coef" in params_diff and "0.5" in params_diff
    metrics_diff = dvc(repo, "metrics", "diff", "--json").stdout
    changed = json.loads(metrics_diff)["results/metrics.json"]
    assert any(k.startswith("policies.ppo.") for k in changed)
    show = json.loads(dvc(repo, "exp", "show", "--json").stdout)
    names = [e.get("name") for rec in show for exp in (rec.get("experiments") or []) for e in [exp]]
    assert "kl05" in names
    assert "ppo.kl_coef" in dvc(repo, "exp", "diff").stdout


def test_queued_experiments_in_parallel_and_compare(repo):
    """`dvc exp run --queue` + `dvc queue start -j 2`, then the cross-experiment table (queued runs use the committed code)."""
    import time

    from tests.dvc_repo import sh

    dvc(repo, "exp", "run", "--queue", "-S", "ppo.kl_coef=0.1,0.2")
    dvc(repo, "queue", "start", "-j", "2")
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        status = dvc(repo, "queue", "status").stdout
        if status.count("Success") >= 2 or "Failed" in status:
            break
        time.sleep(3)
    assert status.count("Success") >= 2, status
    sh(repo, sys.executable, "-m", "reports.compare", "--out-dir", "cmp")
    table = (repo / "cmp" / "compare.md").read_text()
    assert "0.1" in table and "0.2" in table and "ppo.kl_coef" in table

def test_ppo_under_accelerate_launch_with_two_processes(repo):
    """Two CPU processes (gloo): prompts sharded, stats averaged, outputs written once."""
    import pandas as pd

    from tests.dvc_repo import BIN, sh

    single = json.loads((repo / "results/ppo/metrics.json").read_text())
    single_evals = pd.read_csv(repo / "results/ppo/eval.csv")

    sh(repo, str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
       "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "stages.ppo")
    multi = json.loads((repo / "results/ppo/metrics.json").read_text())
    assert (single["processes"], multi["processes"]) == (1, 2)
    assert multi["updates"] == single["updates"]
    # the update-0 evaluation runs before any training on the main process: identical by construction
    assert multi["initial_eval_gold"] == single["initial_eval_gold"]
    assert all(isinstance(multi[k], float) for k in ("final_kl", "final_scores"))
    assert (repo / "models/ppo/model.safetensors").exists()
    multi_evals = pd.read_csv(repo / "results/ppo/eval.csv")
    assert multi_evals["update"].tolist() == single_evals["update"].tolist()  # one row per eval point, written once

"""End to end: the real dvc.yaml on the tiny profile in a throwaway git repo.

One reference run is shared by the tests (module fixture); each test leaves the repo as it found it.
"""

import json
import random
import sys

import pytest

from tests.dvc_repo import commit, dvc, make_repo, ran_stages, repro_killed_after, restore_head, set_param, sh

# the tiny profile runs every method's curves: PPO at two KL coefficients, DPO, RLOO and GRPO at one value each
STAGES = [
    "validate",
    "prepare",
    "base_policy",
    "preferences",
    "reward_model",
    "ppo@0.05",
    "ppo@0.2",
    "dpo@0.1",
    "rloo@0.05",
    "grpo@0.05",
    "generate",
    "evaluate",
    "report",
]
METHOD_CURVES = {"dpo": "kl0.1", "rloo": "kl0.05", "grpo": "kl0.05"}
CURVE = "results/curves/ppo/kl0.05"

pytestmark = pytest.mark.slow  # end-to-end dvc runs: `make test-fast` leaves them out


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
    assert {"base", "ppo_kl0p05", "ppo_kl0p2"} <= set(metrics["policies"])
    assert set(metrics["best_of_n"]) == {"1", "2", "4"}
    assert {"mean", "ci_low", "ci_high"} <= set(metrics["policies"]["ppo_kl0p05"]["gold_reward"])
    for section in ("preferences", "reward_model", "base_policy", "curves", "overoptimisation", "gold_probes"):
        assert section in metrics
    assert metrics["curves"]["ppo_kl0p2"]["knob"] == 0.2
    report = (repo / "REPORT.md").read_text()
    assert "reports/figures/frontier.png" in report and (repo / "reports/figures/frontier.png").exists()
    for model in ("base", "reward", "ppo/kl0.05", "ppo/kl0.2"):
        assert (repo / "models" / model / "model.safetensors").exists()
    second = dvc(repo, "repro").stdout
    assert ran_stages(second) == []
    assert "Data and pipelines are up to date" in dvc(repo, "status").stdout
    assert dvc(repo, "push").returncode == 0


def test_every_method_trains_a_curve_on_the_frontier(repo):
    """DPO, RLOO and GRPO (TRL) each write a policy, held-out eval points with CIs, and reach evaluate's metrics and frontier."""
    import pandas as pd

    metrics = json.loads(metrics_bytes(repo))
    frontier = pd.read_csv(repo / "results/frontier.csv")
    for method, curve in METHOD_CURVES.items():
        assert (repo / "models" / method / curve / "model.safetensors").exists()
        folder = repo / "results/curves" / method / curve
        evals = pd.read_csv(folder / "eval.csv")
        assert evals["update"].tolist() == [0, 1, 2, 4]  # every 2, the powers of two below it, and the last
        assert (evals["kl_ci_low"] <= evals["kl"]).all() and (evals["gold_reward"] <= evals["gold_reward_ci_high"]).all()
        assert (folder / "live" / "metrics.json").exists() and (folder / "eval_samples.jsonl").stat().st_size > 0
        name = f"{method}_{curve.replace('.', 'p')}"
        assert {"mean", "ci_low", "ci_high"} <= set(metrics["policies"][name]["gold_reward"])
        assert len(frontier[frontier["method"] == method]) == 4  # one row per evaluation point
    summaries = {m: json.loads((repo / "results/curves" / m / c / "metrics.json").read_text()) for m, c in METHOD_CURVES.items()}
    assert (
        summaries["rloo"]["episodes"] == summaries["grpo"]["episodes"] == 32
    )  # 4 updates x 8 completions, as ppo's 4 x 8 episodes
    assert (
        0 <= summaries["dpo"]["held_out"]["implicit_reward_accuracy"] <= 1
        and "implicit_reward_accuracy_gold" in summaries["dpo"]["held_out"]
    )


def test_params_changes_rerun_only_downstream(repo):
    # validate checks the whole params.yaml on every change (about a second), before anything else
    set_param(repo, "report.n_samples_shown", 1)
    assert ran_stages(dvc(repo, "repro").stdout) == ["validate", "report"]
    set_param(repo, "evaluate.bootstrap_samples", 60)
    assert ran_stages(dvc(repo, "repro").stdout) == ["validate", "evaluate", "report"]
    dvc(repo, "exp", "apply", "HEAD", check=False)
    (repo / "params.yaml").write_text(_head_file(repo, "params.yaml"))
    dvc(repo, "checkout", "-f")
    assert ran_stages(dvc(repo, "repro").stdout) in ([], ["validate"], ["validate", "evaluate", "report"])


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
    try:
        out = dvc(repo, "exp", "run", "-S", "curves.ppo_kl_coef=[0.05,0.5]", "-n", "kl05").stdout
        assert ran_stages(out)[:3] == ["validate", "ppo@0.5", "generate"]  # ppo@0.05 is unchanged: a new value adds one stage
        params_diff = dvc(repo, "params", "diff").stdout
        assert "curves.ppo_kl_coef" in params_diff and "0.5" in params_diff
        # the DVC metrics name roles, not knob values: the second PPO curve is ppo.curve2 on both sides (issue 27)
        diff = json.loads(dvc(repo, "metrics", "diff", "--all", "--json").stdout)["results/summary.json"]
        assert diff["ppo.curve2.kl_coef"]["old"] == 0.2 and diff["ppo.curve2.kl_coef"]["new"] == 0.5
        both = {k for k, v in diff.items() if isinstance(v.get("old"), float | int) and isinstance(v.get("new"), float | int)}
        assert {"ppo.curve2.gold", "ppo.curve2.kl", "ppo.best_gold", "ppo.best_gold_kl", "base.gold"} <= both
        # a key with a number on one side only is a KL budget one of the two curves did not reach
        assert all(k.split(".")[-1].startswith("gold_at_kl") for k in set(diff) - both), sorted(set(diff) - both)
        assert not [k for k in diff if "0p" in k or "_kl0" in k]
        # `dvc exp diff` too (a list param itself stays "diff not supported": DVC diffs numbers only)
        exp_diff = json.loads(dvc(repo, "exp", "diff", "--json").stdout)["metrics"]["results/summary.json"]
        assert exp_diff["ppo.curve2.kl_coef"]["diff"] == pytest.approx(0.3)
        show = json.loads(dvc(repo, "exp", "show", "--json").stdout)
        names = [e.get("name") for rec in show for exp in (rec.get("experiments") or []) for e in [exp]]
        assert "kl05" in names
        # the DVC metrics are headline means: intervals stay in results/metrics.json, out of `dvc exp show`
        header = dvc(repo, "exp", "show", "--csv").stdout.splitlines()[0].split(",")
        assert "ppo.curve2.gold" in header and not [c for c in header if "ci_" in c]
        assert "curves.ppo_kl_coef" in dvc(repo, "exp", "diff").stdout
    finally:  # `dvc exp run` leaves the experiment in the workspace: back to the reference run for the next tests
        restore_head(repo)


def test_a_bad_key_stops_an_experiment_before_any_output_is_deleted(repo):
    """`dvc exp run -S +ppo.kl_coef=0.05` (TRL's name; ours is curves.ppo_kl_coef): the validate stage fails first, with
    one line naming the real key, and no stage that would delete its git-tracked results has run (issue 26)."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files", "results"], cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    try:
        proc = dvc(repo, "exp", "run", "-S", "+ppo.kl_coef=0.05", check=False)
        assert proc.returncode != 0
        assert "this project's key is curves.ppo_kl_coef" in proc.stdout + proc.stderr
        assert ran_stages(proc.stdout) == ["validate"]
        assert [p for p in tracked if not (repo / p).exists()] == []
    finally:
        restore_head(repo)


VOWELS_PLUGIN = '''def vowel_share(record):
    """share of the response's letters that are vowels"""
    letters = [c for c in record["response"].lower() if c.isalpha()]
    return sum(c in "aeiou" for c in letters) / len(letters) if letters else 0.0
'''


def test_a_plugin_metric_reruns_only_evaluate_and_report_and_reaches_the_summary(repo):
    """README's "Adding a metric": a module in plugins/ named in params marks only evaluate stale (report follows
    its results) and, marked headline, lands in the DVC metrics file for every policy (issue 28)."""
    import yaml

    try:
        (repo / "plugins" / "vowels.py").write_text(VOWELS_PLUGIN)
        params = yaml.safe_load((repo / "params.yaml").read_text())
        params.setdefault("evaluate", {})["metrics"] = {"vowel_share": {"fn": "plugins.vowels:vowel_share", "headline": True}}
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        stale = set(json.loads(dvc(repo, "status", "--json").stdout))
        assert "evaluate" in stale and stale <= {"validate", "evaluate", "report"}, stale
        assert ran_stages(dvc(repo, "repro").stdout) == ["validate", "evaluate", "report"]
        summary = json.loads((repo / "results" / "summary.json").read_text())
        for entry in (summary["base"], summary["ppo"]["curve1"], summary["ppo"]["curve2"], summary["dpo"]["curve1"]):
            assert 0 < entry["vowel_share"] < 1
        full = json.loads(metrics_bytes(repo))
        assert {"mean", "ci_low", "ci_high"} <= set(full["policies"]["base"]["vowel_share"])
        info = json.loads((repo / "results" / "metric_info.json").read_text())
        assert info["vowel_share"]["description"] == "share of the response's letters that are vowels"
    finally:
        restore_head(repo)


def test_queued_experiments_in_parallel_compare_and_the_seed_study(repo, tmp_path):
    """`dvc exp run --queue` + `dvc queue start -j 2` (queued runs use the committed code), then the cross-experiment
    table (the baseline joins the group of its seed run) and the seed study over the baseline and its seed run."""
    import time

    from tests.dvc_repo import sh

    dvc(repo, "exp", "run", "--queue", "-n", "seed-9", "-S", "seed=9")  # every stage re-seeded
    dvc(repo, "exp", "run", "--queue", "-n", "lr2", "-S", "ppo.lr=0.002")
    dvc(repo, "queue", "start", "-j", "2")
    deadline = time.monotonic() + 1500
    while time.monotonic() < deadline:
        status = dvc(repo, "queue", "status").stdout
        if status.count("Success") >= 2 or "Failed" in status:
            break
        time.sleep(3)
    assert status.count("Success") >= 2, status
    sh(repo, sys.executable, "-m", "reporting.compare", "--out-dir", str(tmp_path / "cmp"))  # outside: the repo stays clean
    table = (tmp_path / "cmp" / "compare.md").read_text()
    assert "0.002" in table and "ppo.lr" in table
    assert len([ln for ln in table.splitlines() if ln.startswith("| B: ") and "| 2 (" in ln]) == 1, table
    sh(repo, sys.executable, "-m", "reporting.study", "--out-dir", str(tmp_path / "study"))
    study = json.loads((tmp_path / "study" / "seeds.json").read_text())
    assert study["n_seeds"] == 2 and 9 in study["seeds"] and (tmp_path / "study" / "seeds_frontier.png").is_file()
    assert set(study["curves"]) == {"ppo.curve1", "ppo.curve2", "dpo.curve1", "rloo.curve1", "grpo.curve1"}
    assert "of 2 |" in (tmp_path / "study" / "seeds.md").read_text()


def test_queued_report_only_change_reruns_only_report(repo):
    """A queued run starts from the commit's dvc.lock and cache: upstream stages (pretraining, PPO) are skipped."""
    import time

    dvc(
        repo, "exp", "run", "--queue", "-n", "report-only", "-S", "+report.figure_dpi=41"
    )  # `+`: a key params.yaml leaves at its default
    dvc(repo, "queue", "start", "-j", "1")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = next((ln for ln in dvc(repo, "queue", "status").stdout.splitlines() if "report-only" in ln), "")
        if "Success" in line or "Failed" in line:
            break
        time.sleep(3)
    assert "Success" in line, line
    assert ran_stages(dvc(repo, "queue", "logs", "report-only").stdout) == ["validate", "report"]


def test_shared_remote_push_then_pull_into_a_fresh_clone(repo, tmp_path):
    """README's shared-remote recipe, with a local folder standing in for a bucket: push, clone, pull, up to date."""
    from tests.dvc_repo import sh

    bucket, clone = tmp_path / "bucket", tmp_path / "clone"
    dvc(repo, "remote", "add", "--local", "-d", "shared", str(bucket))  # --local: the fixture repo's tracked config stays
    try:
        dvc(repo, "push")
    finally:
        dvc(repo, "remote", "remove", "--local", "shared")
    sh(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    assert not (clone / "models/base").exists()
    dvc(clone, "remote", "add", "--local", "-d", "shared", str(bucket))
    dvc(clone, "pull")
    assert (clone / "models/base/model.safetensors").read_bytes() == (repo / "models/base/model.safetensors").read_bytes()
    assert "Data and pipelines are up to date" in dvc(clone, "status").stdout


def test_ppo_under_accelerate_launch_with_two_processes(repo):
    """Two CPU processes (gloo): prompts sharded, stats averaged, outputs written once."""
    import pandas as pd

    from tests.dvc_repo import BIN, sh

    single = json.loads((repo / CURVE / "metrics.json").read_text())
    single_evals = pd.read_csv(repo / CURVE / "eval.csv")

    sh(
        repo,
        str(BIN / "accelerate"),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "stages.ppo",
        "--kl-coef",
        "0.05",
    )
    multi = json.loads((repo / CURVE / "metrics.json").read_text())
    assert (single["processes"], multi["processes"]) == (1, 2)
    assert multi["updates"] == single["updates"] and multi["episodes"] == single["episodes"]
    assert all(isinstance(multi[k], float) for k in ("final_kl", "final_scores"))
    assert (repo / "models/ppo/kl0.05/model.safetensors").exists()
    multi_evals = pd.read_csv(repo / CURVE / "eval.csv")
    assert multi_evals["update"].tolist() == single_evals["update"].tolist()  # one row per eval point, written once
    # the update-0 evaluation runs before any training on the main process: identical by construction
    assert multi_evals["gold_reward"].iloc[0] == single_evals["gold_reward"].iloc[0]


def test_the_tuning_runs_each_candidate_on_validation_prompts_and_keeps_no_gold(repo, tmp_path):
    """`make tune`'s procedure on tiny: each method's own stage per rate in a scratch workspace, the record holds only
    validation proxy and KL, the chosen rate maximises proxy - coefficient x KL, and the workspace is left as it was."""
    from bench.tune import objective

    out = tmp_path / "tuning.json"
    before = sh(repo, "git", "status", "--porcelain").stdout  # earlier tests of this module may leave files
    sh(repo, sys.executable, "-m", "bench.tune", "--methods", "rloo", "dpo", "--lrs", "1e-4", "3e-4", "--out", str(out))
    record = json.loads(out.read_text())
    assert record["validation_prompts"] == 8 and record["reward_model_sha256"]
    for method, knob in (("rloo", 0.05), ("dpo", 0.1)):  # each method's first tiny curve
        entry = record["methods"][method]
        assert entry["coefficient"] == knob and [r["lr"] for r in entry["runs"]] == [1e-4, 3e-4]
        for r in entry["runs"]:
            assert not [k for k in r if "gold" in k] and r["objective"] == objective(r["proxy_reward_norm"], r["kl"], knob)
        assert entry["chosen_lr"] == max(entry["runs"], key=lambda r: r["objective"])["lr"]
    # a candidate that trained at all moved away from the base
    assert all(r["kl"] != 0 for e in record["methods"].values() for r in e["runs"])
    assert sh(repo, "git", "status", "--porcelain").stdout == before

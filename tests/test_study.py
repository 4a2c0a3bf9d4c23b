"""The seed study (reporting.study): per-seed numbers read as each run committed them, aggregated by curve role."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from reporting import study as study_mod
from reporting.compare import Run, t_interval
from reporting.sections import Context, headline, seeds_section, study_covers
from reporting.study import SeedRun, aggregate, build_study, members, per_run, write_study

CURVES = {"ppo_kl0p01": ("ppo", 0.01), "ppo_kl0p1": ("ppo", 0.1), "dpo_kl0p05": ("dpo", 0.05)}


def seed_run(seed: int, golds: dict[str, list[float]], kls: dict[str, list[float]], significant: dict[str, bool]) -> SeedRun:
    """A run whose curves have the given gold and KL per evaluation point (proxy rising along each curve)."""
    rows, peaks, selection = [], {}, {}
    for name, (method, knob) in CURVES.items():
        g, k = golds[name], kls[name]
        proxy = [0.5 * i for i in range(len(g))]
        rows += [
            {"method": method, "curve": name, "knob": knob, "point": i, "kl": k[i], "gold_reward": g[i]} for i in range(len(g))
        ]
        rows.append({"method": "policy", "curve": name, "knob": knob, "point": -1, "kl": k[-1], "gold_reward": g[-1]})
        top = max(range(len(g)), key=g.__getitem__)
        peaks[name] = {
            "peak_kl": k[top],
            "peak_gold_reward": g[top],
            "last_kl": k[-1],
            "last_gold_reward": g[-1],
            "gold_drop": g[top] - g[-1],
            "peak_proxy_reward": proxy[top],
            "last_proxy_reward": proxy[-1],
        }
        selection[name] = {"gold_drop_significant": significant[name], "gold_drop_p_value": 0.01 if significant[name] else 0.4}
    metrics = {
        "run": {"seed": seed},
        "curves": {n: {"method": m, "knob": kn} for n, (m, kn) in CURVES.items()},
        "overoptimisation": peaks,
        "peak_selection": selection,
    }
    return SeedRun(seed, f"seed-{seed}", f"{seed:040d}", metrics, pd.DataFrame(rows))


def three_seeds() -> list[SeedRun]:
    kl = [0.0, 2.0, 5.0, 9.0]
    runs = []
    for seed, (peak_gold, falls) in enumerate([(0.2, True), (0.3, True), (0.1, False)]):
        golds = {
            # PPO beta=0.01: rises to a peak at KL 5 then falls (not significantly in the third seed)
            "ppo_kl0p01": [-0.7, peak_gold - 0.2, peak_gold, peak_gold - 0.4],
            "ppo_kl0p1": [-0.7, -0.5, -0.4, -0.3],  # rises to the end: never over-optimises
            "dpo_kl0p05": [-0.7, -0.6, -0.55, -0.5],
        }
        kls = {"ppo_kl0p01": kl, "ppo_kl0p1": [0.0, 1.0, 2.0, 4.0], "dpo_kl0p05": [0.0, 0.5, 1.5, 3.5]}
        runs.append(seed_run(seed, golds, kls, {"ppo_kl0p01": falls, "ppo_kl0p1": False, "dpo_kl0p05": False}))
    return runs


def test_per_curve_counts_and_across_seed_intervals():
    study = build_study(three_seeds(), {"seed": 0})
    assert study["n_seeds"] == 3 and study["seeds"] == [0, 1, 2]
    first, second = study["curves"]["ppo.curve1"], study["curves"]["ppo.curve2"]
    assert (first["knob"], first["overoptimises_in"], first["seeds"]) == (0.01, 2, 3)
    assert second["overoptimises_in"] == 0 and study["curves"]["dpo.curve1"]["overoptimises_in"] == 0
    expected = t_interval([0.2, 0.3, 0.1], bounds=(-1.0, 1.0))
    assert first["peak_gold"]["mean"] == pytest.approx(expected.mean)
    assert first["peak_gold"]["ci_low"] == pytest.approx(expected.low) and first["peak_gold"]["ci_high"] == pytest.approx(
        expected.high
    )
    assert first["peak_kl"]["mean"] == pytest.approx(5.0) and first["gold_drop"]["mean"] == pytest.approx(0.4)


def test_an_insignificant_drop_or_a_falling_proxy_is_not_over_optimisation():
    run = three_seeds()[0]
    assert per_run(run)["curves"]["ppo.curve1"]["overoptimises"]
    run.metrics["overoptimisation"]["ppo_kl0p01"]["last_proxy_reward"] = -1.0  # the proxy fell too
    assert not per_run(run)["curves"]["ppo.curve1"]["overoptimises"]


def test_matched_kl_winners_are_counted_per_seed():
    study = build_study(three_seeds(), {})
    # KL 1: PPO's curves reach gold -0.5 (beta 0.1 at KL 1) vs DPO's ~-0.575: PPO wins every seed
    assert study["winners"]["1"] == {"ppo": 3}
    # KL 12: no curve reaches it, so no seed counts
    assert study["winners"]["12"] == {}
    assert study["methods"]["dpo"]["gold_at_kl3"]["n"] == 3


def test_members_are_the_baseline_and_its_seeds_once_each():
    params = {"seed": 0, "ppo.lr": 1e-4, "report.n_samples_shown": 5}
    runs = [
        Run("main", "a", params, {}, {}, {}, baseline="baseline"),
        Run("s1", "b", params | {"seed": 1, "report.n_samples_shown": 9}, {}, {}, {}),  # display param: same group
        Run("s1-again", "c", params | {"seed": 1}, {}, {}, {}),
        Run("lr", "d", params | {"seed": 2, "ppo.lr": 3e-4}, {}, {}, {}),
    ]
    assert [r.name for r in members(runs)] == ["main", "s1"]


def test_written_study_and_the_report_cites_it_only_for_its_own_run(tmp_path: Path):
    runs = three_seeds()
    study = build_study(runs, {"seed": 0})
    md = write_study(study, tmp_path / "study")
    text = md.read_text()
    assert "| PPO (β=0.01) | 2 of 3 |" in text and "(seeds_frontier.png)" in text
    assert (tmp_path / "study/seeds_frontier.png").read_bytes()[:4] == b"\x89PNG"
    stored = json.loads((tmp_path / "study/seeds.json").read_text())
    assert [r["rev"] for r in stored["runs"]] == [r.rev for r in runs]

    metrics = runs[0].metrics
    assert study_covers(stored, metrics)
    ctx = Context(metrics=metrics, results_dir=tmp_path, report_dir=tmp_path, figures_dir=tmp_path, dpi=30)
    ctx.study, ctx.study_dir = stored, tmp_path / "study"
    assert "PPO (β=0.01) in 2 of 3" in headline(ctx) and "2 of 3" in seeds_section(ctx)
    # another run with the same seed (other params or code): its peak differs, the study is not cited
    other = json.loads(json.dumps(metrics))
    other["overoptimisation"]["ppo_kl0p01"]["peak_kl"] = 4.0
    assert not study_covers(stored, other)
    other = json.loads(json.dumps(metrics)) | {"run": {"seed": 7}}
    assert not study_covers(stored, other)
    ctx.study = None
    assert "One seed" in headline(ctx)


def test_runs_are_read_from_their_commits(tmp_path: Path):
    """load_seed_run reads results/ at the run's rev, not the workspace."""
    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True, text=True).stdout  # noqa: E731
    git("init", "-q")
    (tmp_path / "results").mkdir()
    run = three_seeds()[1]
    (tmp_path / "results/metrics.json").write_text(json.dumps(run.metrics))
    run.frontier.to_csv(tmp_path / "results/frontier.csv", index=False)
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "run")
    rev = git("rev-parse", "HEAD").strip()
    (tmp_path / "results/metrics.json").write_text("{}")  # the workspace changed after the commit
    loaded = study_mod.load_seed_run(Run("s1", rev, {"seed": 1}, {}, {}, {}), tmp_path)
    assert loaded.metrics == run.metrics and len(loaded.frontier) == len(run.frontier)
    assert aggregate([per_run(loaded)])["curves"]["ppo.curve1"]["peak_gold"]["ci_low"] is None  # one seed: no interval

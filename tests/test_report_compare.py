"""Cross-experiment comparison from hand-made `dvc exp show --json` records (dvc 3.x shape, current metrics layout)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

import reporting.compare as compare_mod
from reporting.compare import (
    UNIT,
    collect_runs,
    extract_policies,
    frontier_metric,
    group_runs,
    main,
    t_interval,
    varying_params,
)

RAW_PROXY = 1234.5  # raw proxy scores: never shown (not comparable across reward models)


def _ci(mean: float | None) -> dict[str, Any]:
    return {"mean": mean, "ci_low": None if mean is None else mean - 0.01, "ci_high": None if mean is None else mean + 0.01}


def _policy(gold: float | None, kl: float | None, proxy_norm: float, win: float = 0.6) -> dict[str, Any]:
    out = {
        "kl": _ci(kl),
        "proxy_reward": _ci(RAW_PROXY),
        "proxy_reward_norm": _ci(proxy_norm),
        "distinct_2_across_input": _ci(0.8),
    }
    if gold is not None:
        out |= {"gold_reward": _ci(gold), "win_rate_vs_base": _ci(win)}
    return out


def _metrics(gold: float | None, kl: float | None, dpo: bool = False, acc: float = 0.85) -> dict[str, Any]:
    """metrics.json with base, one PPO curve (β=0.05), optionally a DPO curve, and best-of-n at n=1..64."""
    g = (lambda x: x) if gold is not None else (lambda x: None)
    policies = {"base": _policy(g(-0.7), 0.0, 0.0, 0.5), "ppo_kl0p05": _policy(gold, kl, 1.5)}
    curves = {"ppo_kl0p05": {"method": "ppo", "knob": 0.05, "kl_coef": 0.05}}
    if dpo:
        policies["dpo_kl0p1"] = _policy(g(0.1), 4.0, 0.9, 0.7)
        curves["dpo_kl0p1"] = {"method": "dpo", "knob": 0.1}
    bon = {}
    for n in (1, 2, 4, 8, 16, 32, 64):
        kl_n = math.log(n) - (n - 1) / n
        b = {"kl": kl_n, "sqrt_kl": math.sqrt(kl_n), "proxy_reward": _ci(RAW_PROXY), "proxy_reward_norm": _ci(0.3 * math.log2(n))}
        if gold is not None:
            b["gold_reward"] = _ci(-0.7 + 0.05 * math.log2(n))
        bon[str(n)] = b
    out = {"policies": policies, "curves": curves, "best_of_n": bon, "reward_model": {"accuracy_gold": acc}}
    out["preferences"] = {"gold_available": gold is not None}
    return out


def _data(seed: int, kl_coef: float, gold: float | None, kl: float | None, dpo: bool = False, lr: float = 0.001) -> dict:
    params = {"seed": seed, "ppo": {"kl_coef": kl_coef, "steps": 50, "lr": lr}, "annotator": {"seed": seed + 100}}
    return {
        "rev": f"rev{seed}{kl_coef}{gold}",
        "timestamp": "2025-01-01T00:00:00",
        "params": {"params.yaml": {"data": params}},
        "metrics": {"results/summary.json": {"data": _metrics(gold, kl, dpo)}},
        "deps": {},
        "outs": {},
        "meta": {"has_checkpoints": False},
    }


def _exp(name: str, data: dict[str, Any] | None, state: str | None = "success", error: dict | None = None) -> dict[str, Any]:
    rev = data["rev"] if data else f"{name}-rev"
    return {
        "revs": [{"rev": rev, "name": name, "data": data, "error": error, "experiments": None}],
        "executor": {"state": state, "name": None, "local": None} if state else None,
        "name": name,
    }


A = [(1, 0.50, 1.00), (2, 0.56, 1.21), (3, 0.53, 1.44)]  # kl_coef 0.05: (seed, gold, kl); with a DPO curve
B = [(1, 0.40, 0.25), (2, 0.44, 0.36)]  # kl_coef 0.2
BASELINE_GOLD, WORKSPACE_GOLD, FAILED_GOLD = 0.777, 0.888, 0.999


def exp_show_records(head_metrics: bool = True) -> list[dict[str, Any]]:
    experiments = [_exp(f"a-s{s}", _data(s, 0.05, g, k, dpo=True)) for s, g, k in A]
    experiments += [_exp(f"b-s{s}", _data(s, 0.2, g, k)) for s, g, k in B]
    experiments += [
        _exp("c-s1", _data(1, 0.5, 0.2, None)),  # missing kl: counted, no PPO frontier point
        _exp("failed", _data(9, 0.05, FAILED_GOLD, 9.0), state="failed"),
        _exp("queued", None, state="queued"),
        _exp(
            "broken",
            {
                **_data(8, 0.05, 0.0, 0.0),
                "metrics": {"results/summary.json": {"error": {"type": "FileNotFoundError", "msg": "x"}}},
            },
        ),
        _exp("errored", _data(7, 0.05, FAILED_GOLD, 9.0), state=None, error={"msg": "boom", "type": "DvcException"}),
    ]
    head = _data(4, 0.05, BASELINE_GOLD, 2.0)
    if not head_metrics:
        head["metrics"] = {"results/summary.json": {"error": {"type": "FileNotFoundError", "msg": "not in cache"}}}
    return [
        {"rev": "workspace", "name": None, "data": _data(5, 0.05, WORKSPACE_GOLD, 2.0), "error": None, "experiments": None},
        {"rev": "0123abcd" * 5, "name": "main", "data": head, "error": None, "experiments": experiments},
    ]


def _run_cli(tmp_path: Path, records: list[dict[str, Any]]) -> tuple[str, Path]:
    exp_json = tmp_path / "exp_show.json"
    exp_json.write_text(json.dumps(records))
    out = tmp_path / "compare"
    assert main(["--input", str(exp_json), "--out-dir", str(out), "--dpi", "30"]) == 0
    return (out / "compare.md").read_text(), out / "compare_frontier.png"


def _rows(text: str, prefix: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(prefix)]


def test_collect_and_group_runs() -> None:
    runs = collect_runs(exp_show_records())
    # the HEAD baseline first, then finished experiments; failed, queued, errored, metric-less and workspace skipped
    assert [r.name for r in runs] == ["main", "a-s1", "a-s2", "a-s3", "b-s1", "b-s2", "c-s1"]
    assert runs[0].baseline == "baseline (HEAD, main, 0123abc)" and all(r.baseline is None for r in runs[1:])
    groups = group_runs(runs)
    # the baseline differs from group a only in its seeds: it joins that group (B), as the seed study needs
    assert [(g.gid, len(g.runs)) for g in groups] == [("B", 4), ("1", 2), ("2", 1)]
    # seeds of every section are ignored when grouping
    assert varying_params(groups) == ["ppo.kl_coef"]
    assert runs[1].seed == 1 and runs[1].policies["ppo_kl0p05"]["sqrt_kl"] == pytest.approx(1.0)
    assert groups[0].values("ppo_kl0p05", "gold_reward") == [BASELINE_GOLD, 0.50, 0.56, 0.53]


def test_output_neutral_params_do_not_split_a_group():
    """report.* and throughput knobs cannot change a run's numbers: runs differing only there are seeds of one group."""
    runs = []
    for name, seed, extra in (
        ("shown", 1, {"report": {"n_samples_shown": 9}}),
        ("plain", 2, {}),
        ("lr", 3, {"ppo": {"lr": 0.5}}),
    ):
        data = _data(seed, 0.05, 0.5, 1.0)
        params = data["params"]["params.yaml"]["data"]
        for section, values in extra.items():
            params[section] = params.get(section, {}) | values
        data["rev"] = name
        runs.append(compare_mod._run({"rev": name, "name": name, "data": data}, compare_mod.METRICS_FILE, "params.yaml"))
    groups = compare_mod.group_runs(runs)
    assert [[r.name for r in g.runs] for g in groups] == [["shown", "plain"], ["lr"]]
    assert compare_mod.varying_params(groups) == ["ppo.lr"]


def test_workspace_stands_in_when_head_has_no_metrics() -> None:
    runs = collect_runs(exp_show_records(head_metrics=False))
    assert runs[0].baseline == "baseline (workspace)"
    assert runs[0].policies["ppo_kl0p05"]["gold_reward"] == WORKSPACE_GOLD


def test_policies_discovered_from_metrics() -> None:
    values, info = extract_policies(_metrics(0.5, 1.0, dpo=True))
    assert set(info) == {"base", "dpo_kl0p1", "ppo_kl0p05", "best_of_n@1", "best_of_n@4", "best_of_n@16", "best_of_n@64"}
    ordered = sorted(info.values(), key=lambda p: p.order)
    assert [p.label for p in ordered] == [
        "base policy",
        "PPO (β=0.05)",
        "DPO (β=0.1)",
        "best-of-1",
        "best-of-4",
        "best-of-16",
        "best-of-64",
    ]
    assert info["dpo_kl0p1"].series == "dpo" and info["best_of_n@4"].series == "best_of_n"
    # the normalised proxy, never the raw score
    assert values["ppo_kl0p05"]["proxy_reward_norm"] == 1.5 and "proxy_reward" not in values["ppo_kl0p05"]
    assert values["best_of_n@16"]["sqrt_kl"] == pytest.approx(math.sqrt(math.log(16) - 15 / 16))
    assert values["dpo_kl0p1"]["sqrt_kl"] == pytest.approx(2.0)
    # best-of-n falls back to every n present when none of the usual ones is
    _, only_odd = extract_policies({"best_of_n": {"3": {"kl": 0.1}, "5": {"kl": 0.2}}})
    assert list(only_odd) == ["best_of_n@3", "best_of_n@5"]


def test_t_interval() -> None:
    golds = [g for _, g, _ in A]
    iv = t_interval(golds)
    mean = sum(golds) / 3
    half = stats.t.ppf(0.975, 2) * stats.tstd(golds) / math.sqrt(3)
    assert (iv.mean, iv.low, iv.high, iv.n) == (pytest.approx(mean), pytest.approx(mean - half), pytest.approx(mean + half), 3)
    assert t_interval([0.3, None]).low is None and t_interval([0.3]).mean == 0.3
    assert t_interval([]).mean is None


def test_t_interval_respects_metric_range() -> None:
    wins = [0.97, 0.99, 1.0]
    raw = t_interval(wins)
    assert raw.high is not None and raw.high > 1.0  # an unclipped t-interval leaves [0, 1]
    iv = t_interval(wins, bounds=UNIT)
    assert iv.high == 1.0 and iv.low == pytest.approx(raw.low) and 0.0 <= iv.low <= iv.mean <= iv.high
    kl = t_interval([0.01, 0.5, 0.02], bounds=(0.0, math.inf))
    assert kl.low == 0.0 and kl.high is not None and kl.high > kl.mean
    gold = t_interval([-0.99, -0.98, -0.6], bounds=(-1.0, 1.0))
    assert gold.low == -1.0 and gold.high == pytest.approx(t_interval([-0.99, -0.98, -0.6]).high) and gold.high < 1.0


def test_cli_writes_tables_and_figure(tmp_path: Path) -> None:
    text, png = _run_cli(tmp_path, exp_show_records())
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG" and "(compare_frontier.png)" in text
    assert "Student-t interval across seeds, clipped to the metric's range" in text
    # groups: the baseline clearly labelled, joined by the experiments that differ from it only in seeds
    base_row = _rows(text, "| B: ")
    assert len(base_row) == 1 and "**baseline (HEAD, main, 0123abc)**" in base_row[0] and "4 (4, 1, 2, 3)" in base_row[0]
    row1 = _rows(text, "| 1: ")
    assert len(row1) == 1 and "`ppo.kl_coef`=0.2" in row1[0] and "2 (1, 2)" in row1[0]
    # policies of every group, with human labels; the DPO curve of the seeds in group B
    ppo_b = _rows(text, "| B | PPO (β=0.05) |")
    iv = t_interval([BASELINE_GOLD] + [g for _, g, _ in A], bounds=(-1.0, 1.0))
    assert len(ppo_b) == 1 and f"{iv.mean:.3f} [" in ppo_b[0] and f"{iv.low:.3f}" in ppo_b[0]
    assert len(_rows(text, "| B | DPO (β=0.1) |")) == 1 and not _rows(text, "| 1 | DPO")
    assert len(_rows(text, "| 1 | best-of-64 |")) == 1 and not _rows(text, "| 1 | best-of-2 |")
    assert "0.200 (n=1)" in text  # a one-seed group shows its value without an interval
    ppo2 = _rows(text, "| 2 | PPO (β=0.05) |")
    assert "proxy reward (norm.)" in text and len(ppo2) == 1 and "| 1.50 (n=1) |" in ppo2[0]
    assert "1234" not in text and "1.23e+03" not in text  # raw proxy never shown
    assert str(WORKSPACE_GOLD) not in text and str(FAILED_GOLD) not in text  # workspace, failed and errored excluded


def test_no_gold_runs_render_proxy_only(tmp_path: Path) -> None:
    records = [
        {"rev": "workspace", "name": None, "data": None, "error": None, "experiments": None},
        {
            "rev": "f" * 40,
            "name": "main",
            "data": _data(0, 0.05, None, 1.0),
            "error": None,
            "experiments": [_exp(f"s{s}", _data(s, 0.05, None, 1.0 + s / 10, lr=0.002)) for s in (1, 2)],
        },
    ]
    groups = group_runs(collect_runs(records))
    assert frontier_metric(groups) == "proxy_reward_norm"
    text, png = _run_cli(tmp_path, records)
    assert png.is_file()
    policies = text.split("## Runs")[0].split("## Policies")[1]
    assert "gold reward" not in policies and "win rate" not in policies and "proxy reward (norm.)" in policies
    assert "proxy only" in text
    assert "`ppo.lr`=0.002" in text and "`ppo.lr`=0.001" in text
    assert len(_rows(text, "| 1 | PPO (β=0.05) |")) == 1


def test_frontier_metric_needs_gold_in_every_group() -> None:
    records = exp_show_records()
    assert frontier_metric(group_runs(collect_runs(records))) == "gold_reward"
    records[1]["experiments"].append(_exp("nogold", _data(1, 0.9, None, 1.0)))
    assert frontier_metric(group_runs(collect_runs(records))) == "proxy_reward_norm"


def test_figure_joins_policies_per_group_and_method(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    captured = {}

    def fake_save(fig: Any, path: Path, dpi: int) -> Path:
        captured["fig"] = fig
        return path

    monkeypatch.setattr(compare_mod, "save_figure", fake_save)
    groups = group_runs(collect_runs(exp_show_records()))
    assert compare_mod.plot_compare_frontier(groups, tmp_path / "f.png") is not None
    fig = captured["fig"]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    # one legend entry per group (colour) and one per method (marker), never one per pair
    assert labels[:3] == [
        "B: baseline (HEAD, main, 0123abc): ppo.kl_coef=0.05 (n=4)",
        "1: ppo.kl_coef=0.2 (n=2)",
        "2: ppo.kl_coef=0.5 (n=1)",
    ]
    assert {"base policy", "PPO", "DPO", "best-of-n"} <= set(labels[3:]) and len(labels) == len(set(labels))
    ax = fig.axes[0]
    assert ax.get_ylabel().startswith("gold reward")
    bon_lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 4]  # best-of-n joined over n=1, 4, 16, 64
    assert bon_lines and all(list(ln.get_xdata()) == sorted(ln.get_xdata()) for ln in bon_lines)


def test_markdown_escapes_user_strings(tmp_path: Path) -> None:
    records = exp_show_records()
    evil = _data(1, 0.05, 0.3, 1.0)
    m = evil["metrics"]["results/summary.json"]["data"]
    m["policies"]["x|<img src=x>"] = m["policies"]["ppo_kl0p05"]
    evil["params"]["params.yaml"]["data"]["ppo"]["kl_coef"] = "a|b<script>"
    records[1]["experiments"].append(_exp("e|vil", evil))
    text, _ = _run_cli(tmp_path, records)
    assert "<img" not in text and "<script>" not in text and "x&#124;&lt;img" in text and "e&#124;vil" in text


def test_cli_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["--input", str(bad), "--out-dir", str(tmp_path)]) == 2
    assert main(["--input", str(tmp_path / "nope.json"), "--out-dir", str(tmp_path)]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["--input", str(bad), "--dpi", "0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and all(line.startswith(("error:", "usage:", "python -m")) or not line for line in err.splitlines())
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert main(["--input", str(empty), "--out-dir", str(tmp_path / "o")]) == 0
    assert "No finished experiments" in (tmp_path / "o" / "compare.md").read_text()


def test_curve_identity_is_read_from_the_summary_keys():
    from reporting.compare import with_curve_identity

    summary = {"policies": {"base": {}, "ppo_kl0p03": {}, "dpo_kl1em05": {}, "rloo_kl0": {}, "mine_kl0p1": {}, "grpo_klx": {}}}
    curves = with_curve_identity(summary)["curves"]
    assert curves == {
        "ppo_kl0p03": {"method": "ppo", "knob": 0.03},
        "dpo_kl1em05": {"method": "dpo", "knob": 1e-05},
        "rloo_kl0": {"method": "rloo", "knob": 0.0},
    }
    full = {"policies": {"ppo_kl0p03": {}}, "curves": {"ppo_kl0p03": {"method": "ppo", "knob": 0.03, "folder": "x"}}}
    assert with_curve_identity(full) is full  # results/metrics.json names its curves itself


def test_left_out_params_compare_at_their_defaults():
    """params.yaml leaves most keys at pipeline/config.py's defaults: `+ppo.gamma=<default>` groups with no override,
    another value forms its own group and is the varying param."""
    from pipeline.config import Params

    default_gamma = Params().ppo.gamma
    runs = []
    for name, ppo in (("plain", {}), ("same", {"gamma": default_gamma}), ("other", {"gamma": default_gamma / 2})):
        data = _data(1, 0.05, 0.5, 1.0)
        data["params"]["params.yaml"]["data"] = {"seed": 1, "ppo": {"lr": 0.001, **ppo}}
        data["rev"] = name
        runs.append(compare_mod._run({"rev": name, "name": name, "data": data}, compare_mod.METRICS_FILE, "params.yaml"))
    assert (
        runs[0].params["ppo.gamma"] == default_gamma and runs[0].params["sampling.temperature"] == Params().sampling.temperature
    )
    groups = compare_mod.group_runs(runs)
    assert [[r.name for r in g.runs] for g in groups] == [["plain", "same"], ["other"]]
    assert compare_mod.varying_params(groups) == ["ppo.gamma"]


def test_base_policy_constants_are_restored_from_the_committed_summary():
    """results/summary.json leaves out the base policy's KL (0) to itself; compare still puts the base on the frontier
    at √KL = 0 (whichever layout the committed file has: per-policy keys before the role-keyed one)."""
    summary = json.loads((Path(__file__).resolve().parents[1] / "results" / "summary.json").read_text())
    base_file = summary["policies"]["base"] if "policies" in summary else summary["base"]
    assert "kl" not in base_file
    values, info = compare_mod.extract_policies(compare_mod.policy_view(summary))
    base = values["base"]
    assert (base["kl"], base["sqrt_kl"]) == (0.0, 0.0)
    assert base["gold_reward"] == base_file.get("gold_reward", base_file.get("gold")) and info["base"].series == "base"

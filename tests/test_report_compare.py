"""Cross-experiment comparison from a hand-made `dvc exp show --json` (dvc 3.x shape)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from reports.compare import collect_runs, group_runs, main, t_interval, varying_params


def _data(seed: int, kl_coef: float, gold: float | None, kl: float | None, acc: float = 0.85) -> dict[str, Any]:
    metrics = {
        "policies": {"ppo": {"gold_reward": {"mean": gold}, "kl": {"mean": kl}, "proxy_reward": {"mean": 2 * (gold or 0)}}},
        "reward_model": {"accuracy_gold": acc},
    }
    params = {"seed": seed, "ppo": {"kl_coef": kl_coef, "steps": 50}, "annotator": {"seed": seed + 100}}
    return {
        "rev": f"rev{seed}{kl_coef}",
        "timestamp": "2025-01-01T00:00:00",
        "params": {"params.yaml": {"data": params}},
        "metrics": {"results/metrics.json": {"data": metrics}},
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


A = [(1, 0.50, 1.00), (2, 0.56, 1.21), (3, 0.53, 1.44)]  # kl_coef 0.05: (seed, gold, kl)
B = [(1, 0.40, 0.25), (2, 0.44, 0.36)]  # kl_coef 0.2


def exp_show_records() -> list[dict[str, Any]]:
    experiments = [_exp(f"a-s{s}", _data(s, 0.05, g, k)) for s, g, k in A]
    experiments += [_exp(f"b-s{s}", _data(s, 0.2, g, k)) for s, g, k in B]
    experiments += [
        _exp("c-s1", _data(1, 0.5, 0.2, None)),  # missing kl: counted, no frontier point
        _exp("failed", _data(9, 0.05, 99.0, 99.0), state="failed"),
        _exp("queued", None, state="queued"),
        _exp(
            "broken",
            {
                **_data(8, 0.05, 0.0, 0.0),
                "metrics": {"results/metrics.json": {"error": {"type": "FileNotFoundError", "msg": "x"}}},
            },
        ),
        _exp("errored", _data(7, 0.05, 99.0, 99.0), state=None, error={"msg": "boom", "type": "DvcException"}),
    ]
    return [
        {"rev": "workspace", "name": None, "data": _data(5, 0.05, 77.0, 77.0), "error": None, "experiments": None},
        {"rev": "0123abcd" * 5, "name": "main", "data": _data(4, 0.05, 55.0, 55.0), "error": None, "experiments": experiments},
    ]


def test_collect_and_group_runs() -> None:
    runs = collect_runs(exp_show_records())
    assert [r.name for r in runs] == ["a-s1", "a-s2", "a-s3", "b-s1", "b-s2", "c-s1"]
    groups = group_runs(runs)
    assert [len(g.runs) for g in groups] == [3, 2, 1]
    # seeds of every section are ignored when grouping
    assert varying_params(groups) == ["ppo.kl_coef"]
    assert runs[0].seed == 1 and runs[0].values["sqrt_kl"] == pytest.approx(1.0)
    with_baselines = collect_runs(exp_show_records(), include_baselines=True)
    assert [r.name for r in with_baselines][0] == "main" and len(with_baselines) == 7


def test_t_interval() -> None:
    golds = [g for _, g, _ in A]
    iv = t_interval(golds)
    mean = sum(golds) / 3
    half = stats.t.ppf(0.975, 2) * stats.tstd(golds) / math.sqrt(3)
    assert (iv.mean, iv.low, iv.high, iv.n) == (pytest.approx(mean), pytest.approx(mean - half), pytest.approx(mean + half), 3)
    assert t_interval([0.3, None]).low is None and t_interval([0.3]).mean == 0.3
    assert t_interval([]).mean is None


def test_cli_writes_table_and_figure(tmp_path: Path) -> None:
    exp_json = tmp_path / "exp_show.json"
    exp_json.write_text(json.dumps(exp_show_records()))
    out = tmp_path / "compare"
    assert main(["--input", str(exp_json), "--out-dir", str(out), "--dpi", "40"]) == 0
    text = (out / "compare.md").read_text()
    png = out / "compare_frontier.png"
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG" and "(compare_frontier.png)" in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| 1: ")]
    assert len(rows) == 1 and "`ppo.kl_coef`=0.05" in rows[0] and "3 (1, 2, 3)" in rows[0]
    iv = t_interval([g for _, g, _ in A])
    assert "0.530 [" in rows[0] and f"{iv.low:.3f}" in rows[0]
    assert "0.200 (n=1)" in text  # a one-seed group shows its value without an interval
    assert "99.0" not in text and "77.0" not in text and "55.0" not in text  # failed, errored and baseline runs excluded


def test_cli_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["--input", str(bad), "--out-dir", str(tmp_path)]) == 2
    assert main(["--input", str(tmp_path / "nope.json"), "--out-dir", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert main(["--input", str(empty), "--out-dir", str(tmp_path / "o")]) == 0
    assert "No finished experiments" in (tmp_path / "o" / "compare.md").read_text()

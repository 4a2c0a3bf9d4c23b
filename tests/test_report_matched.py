"""Methods at matched KL: interpolation along a curve, best point, winner, and the report section."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from reporting.matched import best_gold_point, gold_at_kl, matched_kl_table, winner_at_kl
from reporting.render import render_report
from reporting.sections import KL_BUDGETS_NATS

FIXTURE = Path(__file__).parent / "fixtures" / "results"


def _curve(kl: list[float], gold: list[float], half_width: float = 0.1, name: str = "c") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "method": "ppo",
            "curve": name,
            "point": range(len(kl)),
            "label": [f"update {i}" for i in range(len(kl))],
            "kl": kl,
            "gold_reward": gold,
            "gold_reward_ci_low": [g - half_width for g in gold],
            "gold_reward_ci_high": [g + half_width for g in gold],
        }
    )


def test_gold_is_interpolated_linearly_in_kl_with_its_ci() -> None:
    curve = _curve([0.0, 2.0, 4.0], [0.0, 1.0, 0.5])
    at1, at3 = gold_at_kl(curve, 1.0), gold_at_kl(curve, 3.0)
    assert at1 == pytest.approx({"gold_reward": 0.5, "gold_reward_ci_low": 0.4, "gold_reward_ci_high": 0.6})
    assert at3["gold_reward"] == pytest.approx(0.75)
    assert gold_at_kl(curve, 4.0)["gold_reward"] == pytest.approx(0.5)  # an exact point, no interpolation
    assert gold_at_kl(curve, 0.0)["gold_reward"] == pytest.approx(0.0)


def test_no_extrapolation_beyond_or_before_the_curve() -> None:
    curve = _curve([1.5, 2.0, 4.0], [0.0, 1.0, 0.5])
    assert gold_at_kl(curve, 5.0) is None
    assert gold_at_kl(curve, 1.0) is None
    assert gold_at_kl(curve, math.nan) is None
    assert gold_at_kl(curve.iloc[:0], 1.0) is None


def test_the_first_crossing_in_training_order_counts() -> None:
    # KL overshoots to 4, falls back to 2, rises to 6: budget 3 is first reached between points 0 and 1
    curve = _curve([0.0, 4.0, 2.0, 6.0], [0.0, 0.8, -1.0, -1.0]).sample(frac=1.0, random_state=0)
    assert gold_at_kl(curve, 3.0)["gold_reward"] == pytest.approx(0.6)


def test_best_point_and_winner() -> None:
    a = _curve([0.0, 2.0, 4.0], [0.0, 1.0, 0.5], name="a")
    b = _curve([0.0, 4.0], [0.0, 1.6], half_width=0.05, name="b")
    best = best_gold_point(a)
    assert best["gold_reward"] == 1.0 and best["kl"] == 2.0 and best["label"] == "update 1"
    table = matched_kl_table(pd.concat([a, b]), ["a", "b"], [1.0, 3.0, 8.0])
    assert winner_at_kl({n: table[n][1.0] for n in table}) == ("a", False)  # 0.5 [0.4, 0.6] vs 0.4 [0.35, 0.45]: overlap
    assert winner_at_kl({n: table[n][3.0] for n in table}) == ("b", True)  # 1.2 [1.15, 1.25] vs 0.75 [0.65, 0.85]
    assert winner_at_kl({n: table[n][8.0] for n in table}) is None  # neither reaches 8 nats


def test_report_section_compares_every_curve_at_each_budget(tmp_path: Path) -> None:
    report = render_report(FIXTURE, tmp_path / "REPORT.md", tmp_path / "figures", repo_dir=tmp_path, dpi=40)
    text = report.read_text()
    block = text[text.index("## Methods at matched KL\n") :]
    block = block[: block.find("\n## ", 1)]
    tables = [[ln for ln in t.splitlines() if ln.startswith("|")] for t in block.split("\n\n")]
    matched, cost = [t for t in tables if t]
    assert [f"gold at KL {k:g}" in matched[0] for k in KL_BUDGETS_NATS] == [True] * len(KL_BUDGETS_NATS)
    labels = [r.split("|")[1].strip() for r in matched[2:]]
    assert labels == ["PPO (β=0.01)", "PPO (β=0.03)", "PPO (β=0.1)", "best-of-n"]
    assert "- KL 1 nats:" in block
    # the cost of each trained curve: what it was trained on and its stage's wall time (best-of-n trains nothing)
    cells = [[c.strip() for c in r.split("|")[1:-1]] for r in cost[2:]]
    assert [c[0] for c in cells] == labels[:3]
    assert all(c[1].endswith("sampled responses") and float(c[2].replace(",", "")) > 0 and "[" in c[3] for c in cells)


def test_dpo_implicit_reward_accuracy_sits_beside_the_reward_models(tmp_path: Path) -> None:
    from reporting.data import Curve
    from reporting.sections import Context, reward_model_section

    metrics = {
        "reward_model": {"accuracy": 0.61, "accuracy_gold": 0.68, "ece": 0.02},
        "curves": {
            "dpo_kl0p1": {
                "method": "dpo",
                "knob": 0.1,
                "held_out": {"implicit_reward_accuracy": 0.575, "implicit_reward_accuracy_gold": 0.604},
            },
            "ppo_kl0p1": {"method": "ppo", "knob": 0.1},
        },
    }
    curves = [Curve("dpo_kl0p1", 0.1, tmp_path, "dpo"), Curve("ppo_kl0p1", 0.1, tmp_path, "ppo")]
    ctx = Context(metrics=metrics, results_dir=tmp_path, report_dir=tmp_path, figures_dir=tmp_path, dpi=40, curves=curves)
    rows = [ln for ln in reward_model_section(ctx, None, None).splitlines() if "implicit reward" in ln]
    assert len(rows) == 1 and "DPO" in rows[0] and "accuracy 0.575 on labels, 0.604 on the gold order" in rows[0]

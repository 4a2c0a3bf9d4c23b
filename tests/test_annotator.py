import json

import numpy as np
import pytest

from pipeline.annotator import accuracy_ceiling, judge, pair_rng, preference_probability
from pipeline.config import AnnotatorConfig
from pipeline.errors import ConfigError
from pipeline.gold import get_gold_scorer
from pipeline.preferences import read_preference_file, simulate_pairs, split_implicit


def test_label_statistics_match_epsilon_and_tau():
    rng = np.random.default_rng(0)
    n, tau, eps = 40_000, 0.2, 0.25
    ga, gb = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    js = [judge(a, b, tau, eps, pair_rng(1, str(i))) for i, (a, b) in enumerate(zip(ga, gb, strict=True))]
    coin_rate = np.mean([j.coin for j in js])
    assert abs(coin_rate - eps) < 4 * np.sqrt(eps * (1 - eps) / n)
    # agreement with "a" follows (1-eps) p + eps/2 on average
    p = preference_probability(ga, gb, tau)
    expected = np.mean((1 - eps) * p + eps / 2)
    observed = np.mean([j.a_preferred for j in js])
    assert abs(observed - expected) < 4 * np.sqrt(0.25 / n)
    # without noise, labels follow p exactly: a calibration check in bins of p
    js0 = [judge(a, b, tau, 0.0, pair_rng(2, str(i))) for i, (a, b) in enumerate(zip(ga, gb, strict=True))]
    lab = np.array([j.a_preferred for j in js0])
    for lo in (0.1, 0.4, 0.7):
        sel = (p >= lo) & (p < lo + 0.2)
        assert abs(lab[sel].mean() - p[sel].mean()) < 0.03


def test_seeding_is_per_pair():
    a = judge(0.3, 0.1, 0.1, 0.25, pair_rng(0, "k"))
    assert a == judge(0.3, 0.1, 0.1, 0.25, pair_rng(0, "k"))
    draws = {judge(0.3, 0.1, 0.1, 0.5, pair_rng(s, "k")).a_preferred for s in range(40)}
    assert draws == {True, False}


def test_ceiling_matches_monte_carlo():
    rng = np.random.default_rng(3)
    ga, gb = rng.uniform(-1, 1, 500), rng.uniform(-1, 1, 500)
    tau, eps = 0.3, 0.25
    ceiling = accuracy_ceiling(ga, gb, tau, eps)
    bayes = ga > gb  # the Bayes-optimal predictor prefers the higher gold score
    hits = []
    for rep in range(60):
        labels = [judge(a, b, tau, eps, pair_rng(rep, str(i))).a_preferred for i, (a, b) in enumerate(zip(ga, gb, strict=True))]
        hits.append(np.mean(np.array(labels) == bayes))
    assert abs(np.mean(hits) - ceiling) < 0.01
    assert accuracy_ceiling([1.0], [0.0], 1e-6, 0.0) == pytest.approx(1.0)
    assert accuracy_ceiling([1.0], [0.0], 1e-6, 1.0) == pytest.approx(0.5)


def _samples(golds_per_prompt):
    out = []
    for pid, golds in enumerate(golds_per_prompt):
        for k, g in enumerate(golds):
            out.append(
                {
                    "prompt_id": pid,
                    "prompt": f"p{pid}",
                    "sample_idx": k,
                    "response": f"r{pid}{k}",
                    "response_ids": [pid, k],
                    "prompt_ids": [pid],
                    "gold": g,
                }
            )
    return out


def test_ties_dropped_or_coined():
    samples = _samples([[0.0, 0.0, 0.5], [0.2, 0.2, 0.2]])
    pairs, stats = simulate_pairs(samples, AnnotatorConfig(ties="drop"), 0)
    assert stats["n_candidate_pairs"] == 6 and stats["tie_rate"] == pytest.approx(4 / 6) and len(pairs) == 2
    pairs, stats = simulate_pairs(samples, AnnotatorConfig(ties="coin"), 0)
    assert len(pairs) == 6
    assert all(p["p_chosen"] == pytest.approx(0.5) for p in pairs if p["gold_chosen"] == p["gold_rejected"])


def test_pair_records_follow_contract():
    pairs, stats = simulate_pairs(_samples([[0.9, -0.9]]), AnnotatorConfig(epsilon=0.0, tau=0.01), 0)
    (p,) = pairs
    assert (p["chosen"], p["rejected"], p["flipped"]) == ("r00", "r01", False)
    assert {"prompt", "chosen", "rejected", "gold_chosen", "gold_rejected", "p_chosen", "flipped"} <= set(p)
    assert stats["accuracy_ceiling"] == pytest.approx(1.0)


def test_gold_scorers():
    vader = get_gold_scorer("vader")
    good, bad, flat = vader(["what a wonderful happy day", "a horrible awful disaster", "the table"])
    assert good > 0.5 and bad < -0.5 and flat == 0.0
    formal = get_gold_scorer("formality")
    assert formal(["Consequently, the committee deliberated extensively"])[0] > formal(["WOW so fun!!!"])[0]
    with pytest.raises(ConfigError, match="annotator.gold: unknown scorer 'nope'"):
        get_gold_scorer("nope")


def test_implicit_prompt_split():
    assert split_implicit("Hello there, good friend", "Hello there, bad enemy") == ("Hello there,", " good friend", " bad enemy")


@pytest.mark.parametrize(
    "rows, expected",
    [
        ([{"prompt": "p", "chosen": "a"}], "no column 'rejected'; columns found"),
        (
            [{"prompt": "p", "chosen": "a", "rejected": "b"}, {"prompt": "p", "chosen": "same", "rejected": "same"}],
            "row 2 has identical chosen and rejected",
        ),
        ([{"prompt": "p", "chosen": 3, "rejected": "b"}], "row 1 column 'chosen' is int, not text or a list of"),
        ([{"chosen": "x"}], "no column 'rejected'; columns found"),
    ],
)
def test_preference_file_schema_errors(tmp_path, rows, expected):
    f = tmp_path / "prefs.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ConfigError) as exc:
        read_preference_file(f)
    assert str(f) in str(exc.value) and expected in str(exc.value)


def test_preference_file_forms(tmp_path):
    import pandas as pd

    rows = [{"prompt": "Q", "chosen": " good", "rejected": " bad"}]
    pd.DataFrame(rows).to_parquet(tmp_path / "p.parquet")
    pd.DataFrame(rows).to_csv(tmp_path / "p.csv", index=False)
    for name in ("p.parquet", "p.csv"):
        assert read_preference_file(tmp_path / name)[0]["chosen"] == " good"
    (tmp_path / "implicit.jsonl").write_text(json.dumps({"chosen": "Q: yes indeed", "rejected": "Q: no way"}) + "\n")
    assert read_preference_file(tmp_path / "implicit.jsonl")[0]["prompt"] == "Q:"
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ConfigError, match="file is empty"):
        read_preference_file(tmp_path / "empty.jsonl")

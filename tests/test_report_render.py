"""REPORT.md rendered from the fixture results (3 PPO curves with planted peaks, best-of-n to 64, a hostile extra policy).

tests/fixtures/make_results.py writes the fixture and documents what is planted.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from reporting import figures
from reporting.render import render_report
from reporting.sections import FIGURE_FILES, SECTION_TITLES, TRAINING_STEP_LABEL
from reporting.tables import fmt, fmt_ci

FIXTURE = Path(__file__).parent / "fixtures" / "results"
HOSTILE_POLICY = "evil|<img src=x onerror=alert(1)>"
CURVE_LABELS = ["PPO (β=0.01)", "PPO (β=0.03)", "PPO (β=0.1)"]


def _render(tmp: Path, results: Path = FIXTURE, **kwargs) -> tuple[Path, str]:
    report = render_report(
        results,
        tmp / "REPORT.md",
        tmp / "reports" / "figures",
        appendix_path=tmp / "reports" / "appendix.md",
        plots_dir=tmp / "reports" / "plots",
        repo_dir=tmp,
        **kwargs,
    )
    return report, report.read_text()


def _agreement(digest: str | None) -> dict:
    """A bench/gold_agreement.py record: the judges agree only where both floor repetition, and part on PPO β=0.1."""

    def policy(gold: float, lm: float, n: int = 30) -> dict:
        return {
            "n": n,
            "spearman": 0.2,
            "mean_readable_sentiment": gold,
            "mean_smollm2_sentiment": lm,
            "mean_readable_sentiment_fluency": 0.5,
            "mean_smollm2_sentiment_fluency": 0.1,
        }

    return {
        "run_metrics_sha256": digest,
        "n": 300,
        "spearman": 0.61,
        "n_no_repetition": 250,
        "spearman_no_repetition": 0.19,
        "spearman_fluency": -0.12,
        "per_policy": {
            "base": policy(-0.68, -0.82),
            "ppo_kl0p1": policy(-0.29, -0.89),
            "ppo_kl0p01": policy(-0.66, -0.80),
            "ppo/kl0.1": policy(-0.43, -0.89, n=260),
            HOSTILE_POLICY: policy(-0.5, -0.5),
        },
        "per_point": {
            f"ppo/kl0.01@{u}": {"n": 29, "mean_readable_sentiment": g, "mean_smollm2_sentiment": m}
            for u, g, m in ((0, -0.6, -0.8), (40, -0.4, -0.85), (100, -0.7, -0.95))
        },
        "worst_disagreements": [
            {
                "response": "the good the <script>alert(1)</script> time",
                "readable_sentiment_fluency": 0.92,
                "smollm2_sentiment_fluency": 0.05,
            }
        ],
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    from reporting.data import metrics_digest

    tmp = tmp_path_factory.mktemp("report")
    agreement = tmp / "bench" / "gold_agreement.json"
    agreement.parent.mkdir()
    agreement.write_text(json.dumps(_agreement(metrics_digest(FIXTURE))))
    return _render(tmp, dpi=40, agreement_file=agreement)


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def _table(block: str) -> list[list[str]]:
    """The rows (header first, separator dropped) of the first Markdown table in `block`."""
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in _table_lines(block)]
    return [r for r in rows if not set("".join(r)) <= set("-:")]


def _table_lines(block: str) -> list[str]:
    out: list[str] = []
    for ln in block.splitlines():
        if ln.startswith("|"):
            out.append(ln)
        elif out:
            break
    return out


def _metrics() -> dict:
    return json.loads((FIXTURE / "metrics.json").read_text())


# ---------------------------------------------------------------- structure
def test_sections_in_reading_order_and_under_200_lines(rendered: tuple[Path, str]) -> None:
    report, text = rendered
    assert text.startswith("# rlhf-bench report\n")
    assert re.findall(r"^## (.+)$", text, flags=re.M) == list(SECTION_TITLES.values())
    assert list(SECTION_TITLES)[:2] == ["summary", "finding"]
    assert len(text.splitlines()) < 200
    assert "Not available" not in text
    appendix = report.parent / "reports" / "appendix.md"
    assert "](reports/appendix.md)" in text and appendix.is_file()
    # the long per-point tables live in the appendix, not in the report
    assert "update 40 |" not in text and all(f"## {c}: held-out evaluation points" in appendix.read_text() for c in CURVE_LABELS)


def test_every_figure_exists_and_is_linked_relatively(rendered: tuple[Path, str]) -> None:
    report, text = rendered
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(Path(link).name for link in links) == sorted(FIGURE_FILES.values())
    for link in links:
        assert link.startswith("reports/figures/")
        assert (report.parent / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_names_the_gold_and_shows_final_policies_with_cis(rendered: tuple[Path, str]) -> None:
    _, text = rendered
    summary = _section(text, SECTION_TITLES["summary"])
    assert "`fluent_sentiment`" in summary and "proxy" in summary
    rows = _table(summary)
    labels = [r[0] for r in rows[1:]]
    assert labels == [
        "base policy",
        *CURVE_LABELS,
        "evil&#124;&lt;img src=x onerror=alert(1)&gt;",
        "best-of-n (n=1)",
        "best-of-n (n=4)",
        "best-of-n (n=16)",
        "best-of-n (n=64)",
    ]
    assert rows[0][1:] == [
        "gold reward",
        "proxy reward (base std. units)",
        "KL to base (nats)",
        "win-rate vs base (gold)",
        "distinct-2 across inputs",
    ]
    metrics = _metrics()
    body = {r[0]: r for r in rows[1:]}
    assert body["PPO (β=0.03)"][1] == fmt_ci(metrics["policies"]["ppo_kl0p03"]["gold_reward"])
    assert body["best-of-n (n=16)"][1] == fmt_ci(metrics["best_of_n"]["16"]["gold_reward"])
    assert "`policy:" not in text and "ppo_kl0p" not in text


def test_best_is_bold_only_where_direction_means_better(rendered: tuple[Path, str]) -> None:
    _, text = rendered
    rows = _table(_section(text, SECTION_TITLES["summary"]))[1:]
    bold = {(r[0], col) for r in rows for col, cell in enumerate(r) if cell.startswith("**")}
    assert ("best-of-n (n=64)", 1) in bold  # gold: highest
    assert not any(col in (2, 3) for _, col in bold)  # never the proxy, never KL (the hostile policy's KL is the lowest)
    assert ("PPO (β=0.1)", 4) in bold and ("evil&#124;&lt;img src=x onerror=alert(1)&gt;", 5) in bold


# ---------------------------------------------------------------- the finding
def test_finding_states_the_planted_peak_of_each_curve(rendered: tuple[Path, str]) -> None:
    _, text = rendered
    finding = _section(text, SECTION_TITLES["finding"])
    rows = {r[0]: r for r in _table(finding)[1:]}
    assert list(rows) == CURVE_LABELS
    evals = pd.read_csv(FIXTURE / "curves" / "ppo" / "kl0.01" / "eval.csv")
    peak, last = evals.loc[evals["gold_reward"].idxmax()], evals.iloc[-1]
    assert int(peak["update"]) == 40  # planted: gold = base + d (0.5 - 0.4 log d), d up to 3
    ci = lambda r, c: {"mean": r[c], "ci_low": r[f"{c}_ci_low"], "ci_high": r[f"{c}_ci_high"]}  # noqa: E731
    row = rows["PPO (β=0.01)"]
    assert row[1] == f"{fmt_ci(ci(peak, 'kl'))} (update 40 of 100)"
    assert row[2] == f"{fmt_ci(ci(peak, 'gold_reward'))} → {fmt_ci(ci(last, 'gold_reward'))}"
    assert row[5] == f"{fmt_ci(ci(peak, 'distinct_2_across_input'))} → {fmt_ci(ci(last, 'distinct_2_across_input'))}"
    verdicts = dict(re.findall(r"^- (PPO \(β=[\d.]+\)): (.+)$", finding, flags=re.M))
    assert (
        verdicts["PPO (β=0.01)"].startswith(f"gold peaks at KL {fmt(peak['kl'])} nats then falls")
        and "over-optimisation" in verdicts["PPO (β=0.01)"]
    )
    assert "no clear peak" in verdicts["PPO (β=0.03)"] and "over-optimisation." not in verdicts["PPO (β=0.03)"]
    assert "no peak within this KL budget" in verdicts["PPO (β=0.1)"]
    # the summary leads with it
    assert "**Over-optimisation shows.** PPO (β=0.01): gold peaks at KL" in _section(text, SECTION_TITLES["summary"])


def test_selection_aware_peak_table_says_which_interval_is_which(rendered: tuple[Path, str]) -> None:
    _, text = rendered
    finding = _section(text, SECTION_TITLES["finding"])
    block = finding[finding.index("### Where is the peak? Selection-aware intervals") :]
    assert "*at the chosen update*" in finding and "**recomputes the argmax in each resample**" in block
    assert "*peak location interval*" in block and "reality-check p-value" in block
    rows = {r[0]: r for r in _table(block)[1:]}
    assert list(rows) == CURVE_LABELS
    s = _metrics()["peak_selection"]["ppo_kl0p01"]
    row = rows["PPO (β=0.01)"]
    assert row[1] == f"{fmt(s['peak_kl'])} [{fmt(s['peak_kl_ci_low'])}, {fmt(s['peak_kl_ci_high'])}]"
    # planted: updates 40 and 50 have close gold, prompt offsets move the argmax between them (and 30)
    assert (
        row[2] == "40 [30, 50]"
        and row[3]
        == f"40: {fmt(s['argmax_share']['40'])}, 50: {fmt(s['argmax_share']['50'])}, 30: {fmt(s['argmax_share']['30'])}"
    )
    assert row[4] == f"{fmt(s['gold_drop'])} [{fmt(s['gold_drop_ci_low'])}, {fmt(s['gold_drop_ci_high'])}]"
    assert row[6] == fmt(s["gold_drop_p_value"]) and s["gold_drop_significant"]
    assert rows["PPO (β=0.1)"][6] == "1.00"  # gold highest at the last point: nothing beats it


def test_samples_at_peak_and_end_of_the_curve_with_the_largest_drop(rendered: tuple[Path, str]) -> None:
    _, text = rendered
    finding = _section(text, SECTION_TITLES["finding"])
    block = finding[finding.index("### Samples at the peak and at the end: PPO (β=0.01)") :]
    lines = _table_lines(block)
    assert len(lines) == 2 + 4 and len({ln.count("|") for ln in lines}) == 1  # no pipe or newline broke a row
    header = _table(block)[0]
    assert header == ["prompt", "at the peak (update 40)", "at the end (update 100)"]
    assert "a calm and pleasant answer" in lines[2] and "like like love" in lines[3]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; a &#124; b &#124;&#124; c &amp; d &gt; e<br>&#35; not a heading" in block


# ---------------------------------------------------------------- frontier and fits
def test_fits_table_says_which_fits_are_supported(rendered: tuple[Path, str]) -> None:
    _, text = rendered
    rows = {(r[0], r[1]): r for r in _table(_section(text, SECTION_TITLES["frontier"]))[1:]}
    for label in CURVE_LABELS:
        assert rows[(label, "gold")][-1].startswith("drawn")
        assert float(rows[(label, "gold")][3]) == pytest.approx(0.5, abs=2e-3) and float(
            rows[(label, "gold")][4]
        ) == pytest.approx(0.4, abs=2e-3)
        assert rows[(label, "proxy")][-1] == "not supported by these points (β ≤ 0: no peak)"
    assert rows[("best-of-n", "gold")][-1].startswith("drawn") and rows[("best-of-n", "gold")][5] == "7"


def _captured_figures(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    captured: dict[str, object] = {}
    real = figures.save_figure

    def save(fig, path, dpi):
        captured[Path(path).name] = fig
        return real(fig, path, dpi)

    monkeypatch.setattr(figures, "save_figure", save)
    return captured


HELD_OUT_TITLES = [
    "held-out proxy reward (base-policy std. units)",
    "held-out KL to the base policy (nats)",
    "held-out gold reward",
]


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def _legend_colors(fig) -> dict[str, str]:
    """Legend label -> colour of its handle (hex), over the figure's legends."""
    return {
        t.get_text(): to_hex(h.get_color())
        for leg in fig.legends
        for t, h in zip(leg.get_texts(), leg.legend_handles, strict=True)
    }


def _line_colors(ax) -> dict[str, str]:
    return {ln.get_label(): to_hex(ln.get_color()) for ln in ax.get_lines() if not ln.get_label().startswith("_")}


def test_figures_use_human_labels_and_draw_only_supported_fits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    captured = _captured_figures(monkeypatch)
    _render(tmp_path, dpi=30)
    frontier = captured[FIGURE_FILES["frontier"]]
    legend = _legend_texts(frontier)
    assert legend[:3] == CURVE_LABELS and "best-of-n (n=1…64)" in legend and "base policy" in legend
    assert HOSTILE_POLICY in legend
    assert not any("ppo_kl" in t or "policy:" in t or t == "base" for t in legend)
    # one entry per curve/policy, then what solid, dashed and dotted mean; one column, outside the axes
    assert len(legend) == len(set(legend)) == 3 + 3 + 3 and legend[-3].startswith("gold (solid") and "proxy (dashed" in legend[-2]
    frontier.draw_without_rendering()
    box = frontier.legends[0].get_window_extent()
    assert frontier.legends[0]._ncols == 1 and not any(box.overlaps(ax.get_tightbbox()) for ax in frontier.axes)
    axes = frontier.axes
    assert axes[0].get_ylabel() == "gold reward (fluent_sentiment)"
    assert all(ax.get_xlabel() == "KL(policy ‖ base policy) in nats, on a √ scale" for ax in axes)
    assert "std. units" in axes[1].get_ylabel() and "one scale" in axes[1].get_title()
    # dotted lines are fits: gold has 3 RL fits + best-of-n, proxy only best-of-n (the RL proxy fits have beta <= 0)
    dotted = [[ln for ln in ax.get_lines() if ln.get_linestyle() == ":"] for ax in axes]
    assert (len(dotted[0]), len(dotted[1])) == (4, 1)
    for line in dotted[0]:
        y = line.get_ydata()
        assert (y[~pd.isna(y)] <= 1).all() and (y[~pd.isna(y)] >= -1).all()
    # right panel: each curve's gold (solid) and proxy (dashed) in its one colour; 3 RL curves + best-of-n are joined
    solid = [to_hex(ln.get_color()) for ln in axes[1].get_lines() if ln.get_linestyle() == "-"]
    dashed = [to_hex(ln.get_color()) for ln in axes[1].get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 4 and solid == dashed
    curves = captured[FIGURE_FILES["curves"]]
    titles = [ax.get_title() for ax in curves.axes if ax.get_visible()]
    assert titles == [*HELD_OUT_TITLES, "Base policy: pretraining loss", "Reward model: training loss"]
    assert _legend_texts(curves) == CURVE_LABELS
    for ax in curves.axes[:3]:
        assert list(_line_colors(ax)) == CURVE_LABELS and ax.get_xlabel() == TRAINING_STEP_LABEL
    assert not any("TRL" in ax.get_title() + ax.get_ylabel() + ax.get_xlabel() for ax in curves.axes)
    # held-out points from eval.csv: KL of PPO (β=0.01) at each update
    evals = pd.read_csv(FIXTURE / "curves" / "ppo" / "kl0.01" / "eval.csv")
    kl_line = curves.axes[1].get_lines()[0]
    assert list(kl_line.get_xdata()) == list(evals["update"]) and list(kl_line.get_ydata()) == list(evals["kl"])
    # losses come from the per-step loss.tsv (8 logged points, every 5 updates), not the one-row train/loss.tsv
    x = curves.axes[3].get_lines()[0].get_xdata()
    assert list(x) == [5, 10, 15, 20, 25, 30, 35, 40] and curves.axes[3].get_xlabel() == "optimizer update"


def test_frontier_ticks_are_kl_values_on_a_sqrt_axis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    captured = _captured_figures(monkeypatch)
    _render(tmp_path, dpi=30)
    for ax in captured[FIGURE_FILES["frontier"]].axes:
        labels = [t.get_text() for t in ax.get_xticklabels()]
        # the fixture reaches KL 9 (√KL 3): ticks at √k labelled k
        assert labels == ["0", "1", "2", "4", "9"]
        assert np.allclose(ax.get_xticks(), np.sqrt([0, 1, 2, 4, 9]))
        assert ax.get_xlim()[1] >= 3.0


def test_kl_ticks_are_squares_thinned_to_the_data() -> None:
    assert figures.kl_ticks(40.8) == [0, 1, 2, 4, 9, 16, 25, 36]
    assert figures.kl_ticks(0.6) == [0, 0.1, 0.25, 0.5]
    many = figures.kl_ticks(2500)
    assert len(many) <= 11 and many[0] == 0 and all(float(np.sqrt(k)).is_integer() for k in many)


def test_curve_colors_one_hue_family_per_method() -> None:
    curves = [
        ("p1", "ppo"),
        ("p2", "ppo"),
        ("d1", "dpo"),
        ("r1", "rloo"),
        ("g1", "grpo"),
        ("best_of_n", "best_of_n"),
        ("base", "policy"),
    ]
    colors = figures.curve_colors(curves)
    assert colors["best_of_n"] == to_hex(figures.BEST_OF_N_COLOR) and colors["base"] == "#000000"
    assert len(set(colors.values())) == len(curves)
    rgb = {k: np.array([int(v[i : i + 2], 16) for i in (1, 3, 5)]) for k, v in colors.items()}
    assert all(rgb[k].argmax() == 2 for k in ("p1", "p2"))  # blues
    assert rgb["d1"].argmax() == 1 and rgb["g1"].argmax() == 0  # green, red
    assert rgb["r1"][2] > rgb["r1"][1] and rgb["r1"][0] > rgb["r1"][1]  # purple
    assert rgb["p1"].sum() < rgb["p2"].sum()  # darkest first
    # a curve's colour depends on its method and its place among that method's curves only
    assert figures.curve_colors([("p1", "ppo"), ("p2", "ppo")]) == {k: colors[k] for k in ("p1", "p2")}


def _results_with_more_methods(tmp: Path) -> Path:
    """The fixture plus a DPO and an RLOO curve (the β=0.03 PPO curve's points, DPO's at twice the steps)."""
    results = tmp / "results"
    shutil.copytree(FIXTURE, results)
    metrics = json.loads((results / "metrics.json").read_text())
    frontier = pd.read_csv(results / "frontier.csv")
    source = frontier[(frontier["curve"] == "ppo_kl0p03") & (frontier["method"] == "ppo")]
    for method, knob, name in (("dpo", 0.1, "dpo_kl0p1"), ("rloo", 0.05, "rloo_kl0p05")):
        folder = results / "curves" / method / f"kl{knob:g}"
        folder.mkdir(parents=True)
        evals = pd.read_csv(FIXTURE / "curves" / "ppo" / "kl0.03" / "eval.csv")
        evals["update"] *= 2 if method == "dpo" else 1
        evals.to_csv(folder / "eval.csv", index=False)
        metrics["curves"][name] = {"folder": f"results/curves/{method}/kl{knob:g}", "knob": knob, "method": method}
        frontier = pd.concat([frontier, source.assign(method=method, curve=name, knob=knob)], ignore_index=True)
    (results / "metrics.json").write_text(json.dumps(metrics))
    frontier.to_csv(results / "frontier.csv", index=False)
    return results


def test_every_method_in_the_training_figure_with_its_frontier_colour(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    captured = _captured_figures(monkeypatch)
    _render(tmp_path / "out", _results_with_more_methods(tmp_path), dpi=30)
    labels = ["DPO (β=0.1)", *CURVE_LABELS, "RLOO (β=0.05)"]  # by method, then knob
    curves, frontier = captured[FIGURE_FILES["curves"]], captured[FIGURE_FILES["frontier"]]
    assert _legend_texts(curves) == labels
    front = _legend_colors(frontier)
    for ax in curves.axes[:3]:
        colors = _line_colors(ax)
        assert list(colors) == labels
        assert all(colors[label] == front[label] for label in labels)
        markers = {ln.get_label(): ln.get_marker() for ln in ax.get_lines() if ln.get_label() in labels}
        assert (markers["DPO (β=0.1)"], markers["PPO (β=0.01)"], markers["RLOO (β=0.05)"]) == ("D", "o", "^")
    dpo = next(ln for ln in curves.axes[0].get_lines() if ln.get_label() == "DPO (β=0.1)")
    assert dpo.get_xdata()[-1] == 200  # DPO's own optimizer steps
    assert len(set(front[label] for label in labels)) == len(labels)
    training = pd.read_csv(tmp_path / "out" / "reports" / "plots" / "training.csv")
    assert set(training["method"]) == {"ppo", "dpo", "rloo"} and set(training["series"]) == set(labels)


def test_reward_model_proxy_axis_in_base_policy_std_units(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    captured = _captured_figures(monkeypatch)
    _render(tmp_path, dpi=30)
    fig = captured[FIGURE_FILES["reward_model"]]
    calibration_ax, scatter_ax = fig.axes
    norm = _metrics()["reward_model"]["normalization"]
    scores = pd.read_csv(FIXTURE / "reward_model" / "scores.csv")
    y = scatter_ax.collections[0].get_offsets()[:, 1]
    assert np.allclose(y, (scores["proxy"] - norm["mean"]) / norm["std"])
    assert scatter_ax.get_ylabel() == "proxy reward (base-policy std. units)"
    trend = [t.get_text() for t in scatter_ax.get_legend().get_texts() if "least-squares" in t.get_text()]
    slope = np.polyfit(scores["gold"], (scores["proxy"] - norm["mean"]) / norm["std"], 1)[0]
    assert trend == [f"least-squares line, slope {slope:.3g} (std. units per gold unit)"]
    # calibration bins carry 95% Wilson intervals from their counts
    calibration = pd.read_csv(FIXTURE / "reward_model" / "calibration.csv")
    lo, hi = figures.wilson_interval(calibration["observed"], calibration["count"])
    assert ((lo < calibration["observed"]) & (calibration["observed"] < hi)).all()
    segments = next(c for c in calibration_ax.collections if len(c.get_segments()) == len(calibration)).get_segments()
    assert np.allclose([s[:, 1].min() for s in segments], lo) and np.allclose([s[:, 1].max() for s in segments], hi)


def test_reward_model_standardises_base_samples_and_falls_back_to_raw(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    captured = _captured_figures(monkeypatch)
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"gold": rng.uniform(-1, 1, 400), "proxy": rng.normal(-5.0, 2.0, 400)})
    norm = {"mean": float(scores["proxy"].mean()), "std": float(scores["proxy"].std())}
    figures.plot_reward_model(None, scores, tmp_path / "a.png", 30, normalization=norm)
    y = captured["a.png"].axes[0].collections[0].get_offsets()[:, 1]
    assert abs(y.mean()) < 1e-9 and y.std(ddof=1) == pytest.approx(1.0)
    figures.plot_reward_model(None, scores, tmp_path / "b.png", 30, normalization=None)
    ax = captured["b.png"].axes[0]
    assert np.allclose(ax.collections[0].get_offsets()[:, 1], scores["proxy"]) and "raw" in ax.get_ylabel()


def test_wilson_interval() -> None:
    lo, hi = figures.wilson_interval(np.array([0.5, 1.0, 0.3]), np.array([100, 10, 0]))
    assert lo[0] == pytest.approx(0.4038, abs=1e-4) and hi[0] == pytest.approx(0.5962, abs=1e-4)
    assert hi[1] == pytest.approx(1.0) and lo[1] == pytest.approx(0.7225, abs=1e-4) and np.isnan(lo[2])


def test_study_frontier_uses_the_report_colours(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from reporting import study

    captured: dict[str, object] = {}
    monkeypatch.setattr(study, "save_figure", lambda fig, path, dpi: captured.setdefault("fig", fig) and path)
    points = {"kl": [0.0, 1.0, 4.0], "gold_reward": [0.0, 0.2, 0.1]}
    aggs = {
        role: {"method": m, "knob": k, "overoptimises_in": 0, "seeds": 1}
        for role, m, k in (("dpo.curve1", "dpo", 0.1), ("ppo.curve1", "ppo", 0.01), ("ppo.curve2", "ppo", 0.1))
    }
    data = {"n_seeds": 1, "curves": aggs, "runs": [{"curves": {r: {"points": points} for r in aggs}}]}
    study.plot_study_frontier(data, tmp_path / "s.png", 30)
    ax = captured["fig"].axes[0]
    expected = figures.curve_colors([("dpo.curve1", "dpo"), ("ppo.curve1", "ppo"), ("ppo.curve2", "ppo")])
    wide = [to_hex(ln.get_color()) for ln in ax.get_lines() if ln.get_linewidth() == 2]
    assert wide == list(expected.values())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "4"]


def test_plot_data_for_dvc_plots(rendered: tuple[Path, str]) -> None:
    report, _ = rendered
    plots = report.parent / "reports" / "plots"
    frontier = pd.read_csv(plots / "frontier.csv")
    assert {"PPO (β=0.01)", "best-of-n", "base policy", HOSTILE_POLICY} <= set(frontier["series"])
    training = pd.read_csv(plots / "training.csv")
    assert list(training.columns) == ["series", "method", "update", "proxy_reward", "kl", "gold_reward"]
    assert sorted(set(training["series"])) == sorted(CURVE_LABELS) and set(training["method"]) == {"ppo"}
    assert all(g["update"].nunique() > 1 for _, g in training.groupby("series"))
    evals = pd.read_csv(FIXTURE / "curves" / "ppo" / "kl0.01" / "eval.csv")
    first = training[training["series"] == "PPO (β=0.01)"]
    assert list(first["proxy_reward"]) == list(evals["proxy_reward_norm"]) and list(first["gold_reward"]) == list(
        evals["gold_reward"]
    )
    assert not (plots / "ppo_training.csv").exists()


def test_dvc_yaml_plots_read_the_training_data() -> None:
    yaml = pytest.importorskip("yaml")
    plots = yaml.safe_load((Path(__file__).parent.parent / "dvc.yaml").read_text())["plots"]
    training = {
        col: entry
        for plot in plots
        for entry in plot.values()
        for path, col in (entry.get("y") or {}).items()
        if path == "reports/plots/training.csv"
    }
    assert set(training) == {"proxy_reward", "kl", "gold_reward"}
    assert all(e["x"] == "update" and e["x_label"] == TRAINING_STEP_LABEL for e in training.values())
    assert all(e["template"] == "reports/plot_templates/series_linear.json" for e in training.values())  # colour by series
    text = json.dumps(plots)
    assert "ppo_training" not in text and "TRL" not in text


# ---------------------------------------------------------------- other sections
def test_gold_parts_per_policy_and_along_each_curve(rendered: tuple[Path, str]) -> None:
    _, text = rendered
    block = _section(text, SECTION_TITLES["gold_parts"])
    per_policy, along = (_table(t) for t in block.split("Along each curve")[:2])
    assert per_policy[0] == ["policy", "gold", "sentiment", "fluency", "repetition"] and per_policy[1][0] == "base policy"
    assert per_policy[1][3] == fmt_ci(_metrics()["policies"]["base"]["gold_fluency"])
    assert [r[0] for r in along[1:]] == CURVE_LABELS and all(r[2].count("→") == 2 for r in along[1:])


def test_reward_model_gold_probes_diversity_and_provenance(rendered: tuple[Path, str]) -> None:
    _, text = rendered
    metrics = _metrics()
    rm = _section(text, SECTION_TITLES["reward_model"])
    assert (
        f"| {fmt(metrics['reward_model']['accuracy'])} (ceiling under the label noise: {fmt(metrics['reward_model']['accuracy_ceiling'])}) |"
        in rm
    )
    assert f"| {fmt(metrics['reward_model']['accuracy_gold'])} |" in rm and f"| {fmt(metrics['reward_model']['ece'])} |" in rm
    gold = _section(text, SECTION_TITLES["gold"])
    kinds = {s["kind"] for s in metrics["gold_probes"]["scores"]}
    assert "**holds**" in gold and len(_table(gold)) == 1 + len(kinds) and "Out of order" not in gold
    appendix = (_.parent / "reports" / "appendix.md").read_text()  # every probe text, escaped, lives in the appendix
    assert "word salad &lt;b&gt;" in appendix and "like great best &#124; love &#42;happy&#42;" in appendix
    diversity = _table(_section(text, SECTION_TITLES["diversity"]))
    assert [r[0] for r in diversity[1:]][:4] == ["base policy", *CURVE_LABELS]
    copy_col = diversity[0].index("copies 8 words of the corpus ↓")
    assert diversity[1][copy_col] == fmt_ci(metrics["policies"]["base"]["corpus_copy_rate"])
    prov = _section(text, SECTION_TITLES["provenance"])
    for stage in ("`prepare` 1.50", "`ppo@0.01` 101", "`ppo@0.03` 103", "`ppo@0.1` 110", "`evaluate` 10.0"):
        assert stage in prov
    assert "total 476" in prov and "torch `2.13.0+cpu`" in prov and "| seed, device | 7, cpu |" in prov
    assert "not available (no git" in prov and "md5" not in prov


# ---------------------------------------------------------------- escaping end to end
def test_hostile_policy_name_and_sample_text_are_inert(rendered: tuple[Path, str]) -> None:
    report, text = rendered
    appendix = (report.parent / "reports" / "appendix.md").read_text()
    for doc in (text, appendix):
        assert "<script" not in doc.lower() and "<img" not in doc.lower() and "](javascript" not in doc
    assert text.count("evil&#124;&lt;img src=x onerror=alert(1)&gt;") >= 2  # summary and diversity
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in appendix  # a final sample


def test_rendered_html_has_no_active_content(rendered: tuple[Path, str]) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    report, text = rendered
    for doc in (text, (report.parent / "reports" / "appendix.md").read_text()):
        html = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(doc)
        assert "<script" not in html.lower() and 'href="javascript' not in html.lower()
        # the only images are the report's own figures
        assert all(src.startswith("reports/figures/") for src in re.findall(r'<img src="([^"]*)"', html))


# ---------------------------------------------------------------- robustness
def test_missing_optional_inputs_render_not_available(tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(FIXTURE, results)
    for rel in ("frontier.csv", "samples.jsonl", "reward_model/calibration.csv", "reward_model/scores.csv"):
        (results / rel).unlink()
    shutil.rmtree(results / "curves")
    metrics = json.loads((results / "metrics.json").read_text())
    del metrics["best_of_n"], metrics["gold_probes"], metrics["overoptimisation"]
    (results / "metrics.json").write_text(json.dumps(metrics))
    out = tmp_path / "out"
    report, text = _render(out, results, dpi=30)
    assert re.findall(r"^## (.+)$", text, flags=re.M) == list(SECTION_TITLES.values())
    assert "Not available: `frontier.csv`" in text and "Not available: `gold_probes`" in text
    assert "too few evaluation points to locate a peak" in _section(text, SECTION_TITLES["finding"])
    figs = out / "reports" / "figures"
    assert not (figs / FIGURE_FILES["frontier"]).exists() and not (figs / FIGURE_FILES["reward_model"]).exists()
    assert (figs / FIGURE_FILES["curves"]).exists()


def test_minimal_metrics_and_stale_figures(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "metrics.json").write_text(json.dumps({"policies": {"base": {"gold_reward": {"mean": None}}}}))
    figs = tmp_path / "figs"
    figs.mkdir()
    (figs / FIGURE_FILES["frontier"]).write_bytes(b"stale")
    text = render_report(results, tmp_path / "docs" / "REPORT.md", figs, repo_dir=tmp_path).read_text()
    assert not (figs / FIGURE_FILES["frontier"]).exists()
    assert "![" not in text and text.count("Not available") >= 4


def test_missing_metrics_json_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        render_report(tmp_path, tmp_path / "REPORT.md", tmp_path / "figs", repo_dir=tmp_path)


def test_links_are_relative_to_the_report_folder(tmp_path: Path) -> None:
    report = render_report(
        FIXTURE,
        tmp_path / "docs" / "REPORT.md",
        tmp_path / "assets" / "figs",
        appendix_path=tmp_path / "assets" / "appendix.md",
        repo_dir=tmp_path,
        dpi=30,
    )
    text = report.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links and all(link.startswith("../assets/figs/") and (report.parent / link).is_file() for link in links)
    assert "](../assets/appendix.md)" in text


# ---------------------------------------------------------------- the independent judge
def test_the_independent_judge_is_shown_where_it_parts_from_the_gold(rendered: tuple[Path, str]) -> None:
    _, text = rendered
    summary, section = _section(text, SECTION_TITLES["summary"]), _section(text, SECTION_TITLES["agreement"])
    line = "**An independent judge does not confirm this gold**"
    assert line in summary and line in section
    # the rhos below their bar are named, the pooled one (0.61, above) is not
    assert "of the golds where neither penalises repetition 0.190 < 0.6; of the fluency parts -0.120 < 0.5)" in summary
    assert "of the golds 0.610 <" not in summary
    # PPO β=0.1 gains 0.39 by the gold and loses 0.07 by the LM judge; PPO β=0.01 gains too little to be named
    assert "PPO (β=0.1) +0.390 by the gold, -0.0700 by the LM judge" in summary and "PPO (β=0.01) +" not in summary
    rows = {r[0]: r for r in _table(section)}
    assert rows["PPO (β=0.1)"][1:7] == ["30", "-0.290", "-0.890", "+0.390", "-0.0700", "0.500"]
    assert rows["base policy"][4] == "+0" and not any("evaluation points" in r for r in rows)
    assert "0.190 on the 250 samples" in section and "<script>" not in text and "&lt;script&gt;" in section
    # along the curves: only PPO β=0.01 has every point (first, its gold peak at 40, last) in the record
    along = _table(section[section.index("| curve | gold: first → gold's peak → last") :])[1:]
    assert along == [["PPO (β=0.01)", "-0.600 → -0.400 → -0.700", "-0.800 → -0.850 → -0.950", "29 / 29 / 29"]]


def _agreement_context(tmp: Path, record: dict | None = None, file: Path | None = None):
    """The report's context on the fixture with an agreement record (or a file that may hold one), no figures drawn."""
    from reporting import data
    from reporting.sections import Context, stored_peaks

    metrics = data.load_metrics(FIXTURE)
    curves = data.rl_curves(FIXTURE, metrics)
    ctx = Context(metrics, FIXTURE, tmp, tmp, 30, curves=curves, peaks=stored_peaks(curves, metrics))
    ctx.agreement, ctx.agreement_file = record, file
    if file is not None:
        ctx.agreement, ctx.agreement_status = data.load_agreement(file, FIXTURE)
    return ctx


def test_an_agreement_record_of_another_run_is_not_cited(tmp_path: Path) -> None:
    from reporting.sections import agreement_section

    stale = tmp_path / "gold_agreement.json"
    stale.write_text(json.dumps(_agreement("0" * 64)))
    _, text = _render(tmp_path / "a", dpi=30, agreement_file=stale)  # the digest check is render_report's
    assert "scored another run" in _section(text, SECTION_TITLES["agreement"])
    assert "independent judge" not in _section(text, SECTION_TITLES["summary"])
    missing = agreement_section(_agreement_context(tmp_path, file=tmp_path / "missing.json"))
    assert missing.startswith("_Not available: an agreement record for this run")
    unnamed = tmp_path / "old.json"
    unnamed.write_text(json.dumps(_agreement(None)))
    assert "does not name the run it scored" in agreement_section(_agreement_context(tmp_path, file=unnamed))


def test_an_odd_agreement_record_renders_without_its_tables(tmp_path: Path) -> None:
    from reporting.sections import agreement_section

    record = _agreement("x") | {"per_policy": [1, 2], "worst_disagreements": 7, "spearman_fluency": None}
    section = agreement_section(_agreement_context(tmp_path, record))
    assert "of the fluency parts n/a < 0.5" in section and "| policy |" not in section and "rank furthest" not in section
    record["per_policy"] = {"base": 3, "ppo_kl0p1": {"mean_readable_sentiment": "x"}}
    assert "| PPO (β=0.1) | n/a | n/a | n/a | n/a | n/a |" in agreement_section(_agreement_context(tmp_path, record))


def test_agreement_confirms_only_at_the_bar_and_not_through_shared_repetition() -> None:
    from reporting.sections import agreement_confirms, agreement_shortfalls

    assert agreement_confirms({"spearman": 0.6, "spearman_no_repetition": 0.6, "spearman_fluency": 0.5})
    assert not agreement_confirms({"spearman": 0.9, "spearman_no_repetition": 0.3, "spearman_fluency": 0.5})
    assert not agreement_confirms({"spearman": 0.9, "spearman_no_repetition": 0.9, "spearman_fluency": 0.49})
    assert not agreement_confirms({"spearman": 0.9, "spearman_fluency": 0.9})  # an old record without the split
    assert agreement_shortfalls({"spearman": 0.5, "spearman_no_repetition": 0.9, "spearman_fluency": 0.9}) == [
        "of the golds 0.500 < 0.6"
    ]

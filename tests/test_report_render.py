"""REPORT.md rendered from the fixture results folder: structure, figures, numbers, escaping, robustness."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from reports import provenance
from reports.render import render_report
from reports.sections import FIGURE_FILES, SECTION_TITLES
from reports.tables import fmt, summary_rows

FIXTURE = Path(__file__).parent / "fixtures" / "results"
PARAMS_YAML = """\
seed: 7
device: auto
ppo:
  kl_coef: 0.05  # a comment that must survive
  note: "```not a fence end```"
"""
DVC_LOCK = """\
schema: '2.0'
stages:
  prepare:
    cmd: python -m stages.prepare
    deps:
    - path: stages/prepare.py
      hash: md5
      md5: 0a1b2c3d4e5f60718293a4b5c6d7e8f9
      size: 1234
    params:
      params.yaml:
        data.source: fortunes
    outs:
    - path: data/prompts
      hash: md5
      md5: ffeeddccbbaa99887766554433221100.dir
      size: 5678
      nfiles: 2
  evaluate:
    cmd: python -m stages.evaluate
    deps:
    - path: outputs
      hash: md5
      md5: 11112222333344445555666677778888.dir
    outs:
    - path: results/metrics.json
      hash: md5
      md5: 99990000aaaabbbbccccddddeeeeffff
      size: 4321
"""
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]\d+)?")


def _render(tmp: Path, results: Path = FIXTURE, **kwargs) -> tuple[Path, str]:
    (tmp / "params.yaml").write_text(PARAMS_YAML)
    (tmp / "dvc.lock").write_text(DVC_LOCK)
    report = render_report(
        results, tmp / "REPORT.md", tmp / "reports" / "figures", tmp / "params.yaml", tmp / "dvc.lock", repo_dir=tmp, **kwargs
    )
    return report, report.read_text()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return _render(tmp_path_factory.mktemp("report"))


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def _table(block: str) -> list[list[str]]:
    """The rows (header first, separator dropped) of the first Markdown table in `block`."""
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in _first_table_lines(block)]
    return [r for r in rows if not set("".join(r)) <= set("-:")]


def _first_table_lines(block: str) -> list[str]:
    out: list[str] = []
    for ln in block.splitlines():
        if ln.startswith("|"):
            out.append(ln)
        elif out:
            break
    return out


def _numbers(cell: str) -> list[float]:
    return [float(x) for x in NUMBER.findall(cell.replace("**", ""))]


# ---------------------------------------------------------------- golden structure
def test_every_section_heading_is_present(rendered: tuple[Path, str]) -> None:
    _, text = rendered
    assert text.startswith("# rlhf-bench report")
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings == list(SECTION_TITLES.values())
    assert "Not available" not in text.split("### dvc.lock")[0]


def test_every_figure_exists_and_is_referenced_relatively(rendered: tuple[Path, str]) -> None:
    report, text = rendered
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(Path(link).name for link in links) == sorted(FIGURE_FILES.values())
    for link in links:
        assert not Path(link).is_absolute() and link.startswith("reports/figures/")
        target = report.parent / link
        assert target.is_file() and target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_numbers_match_metrics_json(rendered: tuple[Path, str]) -> None:
    _, text = rendered
    metrics = json.loads((FIXTURE / "metrics.json").read_text())
    table = _table(_section(text, "Summary"))
    header, body = table[0], table[1:]
    expected_rows = summary_rows(metrics)
    assert [r[0] for r in body] == [r.name for r in expected_rows]
    assert "best-of-n (n=16)" in [r[0] for r in body] and "ppo_step20" in [r[0] for r in body]
    columns = {
        "gold reward": "gold_reward",
        "proxy reward (base-normalised)": "proxy_reward_norm",
        "KL (nats)": "kl",
        "win-rate vs base": "win_rate_vs_base",
        "distinct-2 (across-input)": "distinct_2_across_input",
        "self-BLEU (across-input)": "self_bleu_across_input",
        "length (tokens)": "length",
    }
    assert header[1:] == list(columns)
    base = expected_rows[0].metrics
    for row, expected in zip(body, expected_rows, strict=True):
        for cell, key in zip(row[1:], columns.values(), strict=True):
            stats = expected.metrics.get(key)
            if not isinstance(stats, dict) or stats.get("mean") is None:
                assert cell == "n/a", (row[0], key, cell)
                continue
            want = [stats["mean"]] + ([stats["ci_low"], stats["ci_high"]] if stats.get("ci_low") is not None else [])
            if row[0] != "base" and base[key]["mean"] is not None:
                want.append(stats["mean"] - base[key]["mean"])
            got = _numbers(cell)
            assert len(got) == len(want), (row[0], key, cell)
            for g, w in zip(got, want, strict=True):
                assert g == pytest.approx(w, rel=5e-3, abs=1e-9), (row[0], key, cell)
                assert fmt(w).lstrip("+-") in cell


def test_best_value_per_column_is_bold(rendered: tuple[Path, str]) -> None:
    _, text = rendered
    body = {r[0]: r for r in _table(_section(text, "Summary"))[1:]}
    bold = lambda row, col: body[row][col].startswith("**")  # noqa: E731
    assert bold("ppo", 1) and not bold("base", 1)  # gold reward: higher is better
    assert bold("base", 3) and bold("best-of-n (n=1)", 3) and not bold("ppo", 3)  # KL: lower is better, ties all bold
    assert bold("base", 6) and not bold("ppo", 6)  # self-BLEU: lower is better
    assert not any(bold(r, 7) for r in body)  # length: direction unknown, nothing bold


def test_reward_model_and_provenance_numbers(rendered: tuple[Path, str]) -> None:
    _, text = rendered
    rm = _section(text, "Reward-model quality")
    metrics = json.loads((FIXTURE / "metrics.json").read_text())
    for key in ("accuracy", "accuracy_gold", "accuracy_ceiling", "ece", "gold_pearson", "gold_spearman"):
        assert f"| {fmt(metrics['reward_model'][key])} |" in rm
    prov = _section(text, "Provenance and audit")
    assert (
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9" in prov
        and "ffeeddccbbaa99887766554433221100.dir" in prov
        and "99990000aaaabbbbccccddddeeeeffff" in prov
    )
    assert "a comment that must survive" in prov and "````yaml" in prov  # fence longer than the backtick run inside
    assert "`2.13.0+cpu`" in prov and "0123456789abcdef0123456789abcdef01234567" in prov
    assert "not available (no git" in prov
    assert (
        f"**{fmt(sum(metrics[s]['wall_s'] for s in ('prepare', 'base_policy', 'preferences', 'reward_model', 'ppo', 'generate', 'evaluate')))}**"
        in prov
    )


def test_frontier_fit_table(rendered: tuple[Path, str]) -> None:
    _, text = rendered
    rows = {(r[0], r[1]): r for r in _table(_section(text, "Reward–KL frontier"))[1:]}
    assert set(rows) == {("best-of-n", "gold"), ("best-of-n", "proxy"), ("RL (`ppo`)", "gold"), ("RL (`ppo`)", "proxy")}
    assert float(rows[("RL (`ppo`)", "gold")][3]) == pytest.approx(0.45, abs=2e-3)
    assert float(rows[("RL (`ppo`)", "gold")][4]) == pytest.approx(0.2, abs=2e-3)


# ---------------------------------------------------------------- escaping end to end
def test_hostile_samples_are_escaped_in_the_report(rendered: tuple[Path, str]) -> None:
    _, text = rendered
    assert "<script" not in text.lower()
    assert "](javascript" not in text and "![img]" not in text
    samples = _section(text, "Samples")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in samples and "a &#124; b &#124;&#124; c &amp; d &gt; e" in samples
    lines = _first_table_lines(samples)
    n_pipes = lines[0].count("|")
    # every row keeps the header's cell count: no unescaped pipe or newline broke it
    assert len(lines) == 2 + 4 and all(ln.count("|") == n_pipes for ln in lines)
    assert "line one<br>line two<br>&#35; not a heading" in samples


def test_samples_are_limited_to_n_shown(tmp_path: Path) -> None:
    _, text = _render(tmp_path, n_samples_shown=2, dpi=40)
    assert len(_first_table_lines(_section(text, "Samples"))) == 2 + 2


# ---------------------------------------------------------------- robustness
def test_missing_optional_inputs_render_not_available(tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(FIXTURE, results)
    for rel in ("frontier.csv", "samples.jsonl", "reward_model/calibration.csv"):
        (results / rel).unlink()
    shutil.rmtree(results / "ppo")
    metrics = json.loads((results / "metrics.json").read_text())
    del metrics["best_of_n"], metrics["run"]["packages"]
    metrics["reward_model"]["ece"] = None
    (results / "metrics.json").write_text(json.dumps(metrics))
    out = tmp_path / "out"
    out.mkdir()
    report = render_report(results, out / "REPORT.md", out / "figs", None, tmp_path / "missing.lock", dpi=40, repo_dir=tmp_path)
    text = report.read_text()
    assert re.findall(r"^## (.+)$", text, flags=re.M) == list(SECTION_TITLES.values())
    assert "Not available: `frontier.csv`" in _section(text, "Reward–KL frontier")
    assert "Not available: `samples.jsonl`" in _section(text, "Samples")
    assert "Not available: `reward_model/calibration.csv`" in text and "Not available: curves of ppo" in text
    assert "Not available: params.yaml" in text and "Not available: dvc.lock" in text
    assert "| expected calibration error (ECE) | n/a |" in text
    assert not (out / "figs" / FIGURE_FILES["frontier"]).exists() and not (out / "figs" / FIGURE_FILES["calibration"]).exists()
    assert (out / "figs" / FIGURE_FILES["curves"]).exists() and "best-of-n" not in _section(text, "Summary")


def test_minimal_metrics_and_stale_figures(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "metrics.json").write_text(json.dumps({"policies": {"base": {"gold_reward": {"mean": None}}}}))
    figs = tmp_path / "figs"
    figs.mkdir()
    (figs / FIGURE_FILES["frontier"]).write_bytes(b"stale")
    text = render_report(results, tmp_path / "docs" / "REPORT.md", figs, None, None, repo_dir=tmp_path).read_text()
    assert not (figs / FIGURE_FILES["frontier"]).exists()
    assert "![" not in text and text.count("Not available") >= 6


def test_missing_metrics_json_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        render_report(tmp_path, tmp_path / "REPORT.md", tmp_path / "figs", None, None, repo_dir=tmp_path)


def test_figure_links_are_relative_to_the_report_folder(tmp_path: Path) -> None:
    report = render_report(
        FIXTURE, tmp_path / "docs" / "REPORT.md", tmp_path / "assets" / "figs", None, None, repo_dir=tmp_path, dpi=40
    )
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report.read_text())
    assert links and all(link.startswith("../assets/figs/") and (report.parent / link).is_file() for link in links)


def test_git_info_and_dirty_flag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    answers = {"rev-parse": "abc123def456\n", "status": " M params.yaml\n"}
    monkeypatch.setattr(provenance, "_git", lambda repo, *args: answers[args[0]])
    assert provenance.git_info(tmp_path) == provenance.GitInfo("abc123def456", True)
    answers["status"] = ""
    assert provenance.git_info(tmp_path) == provenance.GitInfo("abc123def456", False)
    monkeypatch.setattr(provenance, "_git", lambda repo, *args: None)
    assert provenance.git_info(tmp_path) is None


def test_rendered_html_has_no_active_content(rendered: tuple[Path, str]) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    _, text = rendered
    html = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    samples_html = html.split("<h2>Samples</h2>")[1].split("<h2>")[0]
    # the hostile text survives only as visible text: no script, link, image or code element
    assert "<script" not in html.lower() and 'href="javascript' not in html.lower()
    assert not re.search(r"<(a|img|code)[ >]", samples_html.split("<tbody>")[1])
    rows = re.findall(r"<tr>(.*?)</tr>", samples_html, flags=re.S)
    # header + 4 prompts, each with prompt id, prompt and three policies
    assert len(rows) == 5 and all(len(re.findall(r"<t[hd][ >]", r)) == 5 for r in rows)
    assert "&lt;script&gt;" in samples_html

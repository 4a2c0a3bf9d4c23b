"""`dvc plots show` on dvc.yaml's top-level plots: each plot renders from the files the pipeline and the report write,
with more than one x value, one colour per reader-labelled series, and never two units on one axis."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reporting.render import render_report

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "results"
DVC = Path(sys.executable).parent / "dvc"


def _plots() -> list[dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]


def test_plot_definitions_read_per_step_files_and_one_unit_per_axis() -> None:
    for entry in _plots():
        ((title, spec),) = entry.items()
        files = spec["y"]
        assert isinstance(files, dict) and len(files) == 1, f"{title}: one file and one y field per plot"
        ((path, field),) = files.items()
        assert not path.endswith("train/loss.tsv"), f"{title}: train/loss.tsv is the Trainer's one-row summary"
        assert isinstance(field, str) and spec.get("x_label") and spec.get("y_label"), title
        template = spec.get("template", "linear")
        assert template in ("linear", "scatter") or (ROOT / template).is_file(), title


def dvc_project_with_plots(tmp_path: Path) -> None:
    """A DVC project (no git) at tmp_path holding dvc.yaml, the plot templates and the report's plot data of the
    fixture results: what `dvc plots show` reads."""
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(ROOT / "reports" / "plot_templates", tmp_path / "reports" / "plot_templates")
    shutil.copytree(FIXTURE, tmp_path / "results")
    render_report(
        tmp_path / "results",
        tmp_path / "REPORT.md",
        tmp_path / "reports" / "figures",
        plots_dir=tmp_path / "reports" / "plots",
        repo_dir=tmp_path,
        dpi=20,
    )
    subprocess.run([str(DVC), "init", "--no-scm", "-q"], cwd=tmp_path, check=True, capture_output=True)


@pytest.mark.skipif(not DVC.is_file(), reason="dvc is not installed in this environment")
def test_dvc_plots_show_renders_every_plot(tmp_path: Path) -> None:
    dvc_project_with_plots(tmp_path)
    proc = subprocess.run([str(DVC), "plots", "show", "--json"], cwd=tmp_path, check=True, capture_output=True, text=True)
    shown = json.loads(proc.stdout)
    assert not shown.get("errors"), shown.get("errors")
    titles = [next(iter(e)) for e in _plots()]
    assert sorted(shown["data"]) == sorted(titles)
    for title, renders in shown["data"].items():
        content = renders[0]["content"]
        layers = [content, *content.get("layer", [])]
        values = [v for layer in layers for v in (layer.get("data") or {}).get("values") or []]
        x = next(layer["encoding"]["x"]["field"] for layer in layers if "x" in layer.get("encoding", {}))
        assert len({v[x] for v in values}) > 1, f"{title}: a single x value"
        if title.startswith(("Reward-KL", "Held-out")):
            assert content["encoding"]["color"]["field"] == "series"
            series = {v["series"] for v in values}
            assert "PPO (β=0.01)" in series and not any(s.startswith("ppo_kl") for s in series), (title, series)

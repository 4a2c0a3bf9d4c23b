"""`dvc plots show` writes a page that renders offline: the repo's .dvc/config points DVC at
reports/plot_templates/offline.html, which inlines Vega, Vega-Lite and vega-embed instead of loading them from a CDN."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_report_plots import dvc_project_with_plots

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "results"
DVC = Path(sys.executable).parent / "dvc"
TEMPLATE = ROOT / "reports" / "plot_templates" / "offline.html"


def configured_template() -> Path:
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    return (ROOT / ".dvc" / config["plots"]["html_template"]).resolve()


def test_the_repo_config_uses_the_offline_template():
    assert configured_template() == TEMPLATE.resolve()
    text = TEMPLATE.read_text()
    # the libraries DVC would fetch, inlined; no placeholder through which DVC would add its CDN tags
    for name in ("vega@5.20.2", "vega-lite@5.2.0", "vega-embed@6.18.2"):
        assert f"/* {name}, BSD-3-Clause" in text
    assert "{plot_divs}" in text and "{scripts}" not in text
    assert not re.search(r"<script[^>]*\bsrc=", text) and "</script" not in text.split("<script", 1)[0]


@pytest.mark.skipif(not DVC.is_file(), reason="dvc is not installed in this environment")
def test_dvc_plots_show_writes_a_page_with_no_network_reference(tmp_path: Path):
    dvc_project_with_plots(tmp_path)
    with open(tmp_path / ".dvc" / "config", "a") as f:
        f.write("[plots]\n    html_template = ../reports/plot_templates/offline.html\n")
    subprocess.run([str(DVC), "plots", "show", "-o", "out"], cwd=tmp_path, check=True, capture_output=True, text=True)
    page = (tmp_path / "out" / "index.html").read_text()
    assert "cdn.jsdelivr" not in page and not re.search(r"<script[^>]*\bsrc=\s*[\"']?https?:", page)
    assert page.count("vegaEmbed(") >= 1 and "vega@5.20.2" in page
    # every plot of dvc.yaml is on the page
    assert page.count("<div id = ") == len(yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"])

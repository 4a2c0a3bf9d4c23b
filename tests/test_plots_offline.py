"""`dvc plots show` writes a page that renders offline: the repo's .dvc/config points DVC at
reports/plot_templates/offline.html, which inlines Vega, Vega-Lite and vega-embed instead of loading them from a CDN."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
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


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# .ci/run installs Debian's chromium and sets this, so CI runs the browser test rather than skipping it
REQUIRE_BROWSER = os.environ.get("RLHF_BENCH_REQUIRE_BROWSER") == "1"


@pytest.mark.skipif(not DVC.is_file(), reason="dvc is not installed in this environment")
@pytest.mark.skipif(not CHROMIUM and not REQUIRE_BROWSER, reason="no chromium (apt-get install chromium)")
def test_the_plots_page_renders_in_a_headless_browser_with_the_network_blocked(tmp_path: Path):
    """Opened in headless Chromium that cannot resolve any host, every plot of the page draws its marks."""
    assert CHROMIUM, "RLHF_BENCH_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)"
    dvc_project_with_plots(tmp_path)
    with open(tmp_path / ".dvc" / "config", "a") as f:
        f.write("[plots]\n    html_template = ../reports/plot_templates/offline.html\n")
    subprocess.run([str(DVC), "plots", "show", "-o", "out"], cwd=tmp_path, check=True, capture_output=True, text=True)
    page = (tmp_path / "out" / "index.html").as_uri()
    browser = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND"]
    browser += ["--virtual-time-budget=15000", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*browser, "--dump-dom", page], check=True, capture_output=True, text=True, timeout=180).stdout
    n_plots = len(yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"])
    # vega-embed draws each chart into a <canvas class="marks"> once the libraries have run
    assert len(re.findall(r'<canvas[^>]*class="marks"', dom)) == n_plots, dom[:2000]
    shot = tmp_path / "plots.png"
    subprocess.run([*browser, f"--screenshot={shot}", "--window-size=1280,2400", page], capture_output=True, timeout=180)
    pixels = plt.imread(shot)[..., :3]
    assert pixels.std() > 0.05, "the screenshot is blank"

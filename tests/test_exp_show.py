"""`dvc exp show` on the committed default run stays readable: at most 120 columns, the experiment's params among
them, metrics keyed by role (never a knob value), library code as one column per package (evaluate's two report
modules aside)."""

from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest

from pipeline.io import write_json
from pipeline.profiles import EXPERIMENT_KEYS
from reporting.summary import summary_metrics
from tests.dvc_repo import BIN, ROOT, commit, dvc, project_files, sh

MAX_COLUMNS = 120


@pytest.mark.skipif(not (BIN / "dvc").is_file(), reason="dvc is not installed in this environment")
def test_default_exp_show_fits_120_columns_and_shows_the_experiment(tmp_path):
    heavy = ("data/", "models/", "outputs/", "checkpoints/", "reports/", "tests/", "bench/")
    for rel in project_files():
        if not rel.startswith(heavy):
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, tmp_path / rel)
    assert (tmp_path / "results" / "summary.json").is_file(), "the committed run's DVC metrics file"
    # the DVC metrics file as today's evaluate writes it from the committed run (a run older than its layout too)
    full = json.loads((ROOT / "results" / "metrics.json").read_text())
    summary = summary_metrics(full, pd.read_csv(ROOT / "results" / "frontier.csv"))
    write_json(tmp_path / "results" / "summary.json", summary)
    sh(tmp_path, "git", "init", "-q", "-b", "main")
    commit(tmp_path, "default run")
    header = dvc(tmp_path, "exp", "show", "--csv").stdout.splitlines()[0].split(",")
    assert len(header) <= MAX_COLUMNS, f"{len(header)} columns"
    assert set(EXPERIMENT_KEYS) <= set(header)
    assert {"ppo.curve1.kl_coef", "ppo.curve1.gold", "ppo.gold_at_kl6", "ppo.best_gold"} <= set(header)
    assert not any("ci_" in c or re.search(r"_kl\d+p\d", c) for c in header)  # means only; no key names a knob value
    assert {"pipeline", "rl", "metrics", "reporting", "plugins"} <= set(header)
    files = {c for c in header if c.endswith(".py") and not c.startswith("stages/")}
    assert files == {"reporting/summary.py", "reporting/matched.py"}

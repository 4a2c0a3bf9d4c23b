"""`dvc exp show` on the committed default run stays readable: at most 120 columns, the experiment's params among
them, library code as one column per package."""

from __future__ import annotations

import shutil

import pytest

from pipeline.profiles import EXPERIMENT_KEYS
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
    sh(tmp_path, "git", "init", "-q", "-b", "main")
    commit(tmp_path, "default run")
    header = dvc(tmp_path, "exp", "show", "--csv").stdout.splitlines()[0].split(",")
    assert len(header) <= MAX_COLUMNS, f"{len(header)} columns"
    assert set(EXPERIMENT_KEYS) <= set(header)
    assert "peaks.ppo_kl0p01.gold_reward" in header and not any("ci_" in c for c in header)
    assert {"pipeline", "rl", "metrics", "reporting"} <= set(header)
    assert not [c for c in header if c.endswith(".py") and not c.startswith("stages/")]

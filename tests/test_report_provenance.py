"""The report's dirty flag means uncommitted code or params, not the outputs the run itself writes."""

import subprocess

from reports.provenance import git_info


def git(repo, *args):
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=repo, check=True, capture_output=True)


def test_dirty_flag_ignores_pipeline_outputs(tmp_path):
    for name in ("params.yaml", "dvc.lock", "REPORT.md", "results/metrics.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("v1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "init")
    for name in ("dvc.lock", "REPORT.md", "results/metrics.json"):
        (tmp_path / name).write_text("v2\n")
    info = git_info(tmp_path)
    assert info is not None and len(info.rev) == 40 and not info.dirty
    (tmp_path / "params.yaml").write_text("v2\n")
    assert git_info(tmp_path).dirty

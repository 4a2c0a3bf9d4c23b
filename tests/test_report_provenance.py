"""Provenance names the revision and the code/params edited on top of it, never the outputs the run itself writes."""

import subprocess

from reporting.provenance import git_info


def git(repo, *args):
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=repo, check=True, capture_output=True)


def test_edits_list_code_and_params_not_pipeline_outputs(tmp_path):
    names = (
        "params.yaml",
        "dvc.lock",
        "REPORT.md",
        "results/metrics.json",
        "stages/ppo.py",
        "reports/figures/frontier.png",
        "reports/appendix.md",
        "reports/plots/frontier.csv",
        "tests/test_x.py",
    )
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("v1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "init")
    # what a repro rewrites: never an edit of code or params
    for name in (
        "dvc.lock",
        "REPORT.md",
        "results/metrics.json",
        "reports/figures/frontier.png",
        "reports/appendix.md",
        "reports/plots/frontier.csv",
    ):
        (tmp_path / name).write_text("v2\n")
    info = git_info(tmp_path)
    assert info is not None and len(info.rev) == 40 and info.edited == () and not info.dirty and len(info.date) == 10
    (tmp_path / "params.yaml").write_text("v2\n")
    (tmp_path / "stages" / "ppo.py").write_text("v2\n")
    (tmp_path / "pipeline").mkdir()
    (tmp_path / "pipeline" / "new.py").write_text("x = 1\n")  # a new module the run used, not yet added
    assert git_info(tmp_path / "stages").edited == ("params.yaml", "pipeline/new.py", "stages/ppo.py")
    # after the commit that holds the run, the same tree reads clean
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "run")
    assert git_info(tmp_path).edited == ()


def test_no_git_repository(tmp_path):
    assert git_info(tmp_path) is None

"""Issue 26's hostile cases that need no pipeline run: user paths that escape the repository, writes that fail on a
full disk or a file-size limit, and a SIGTERM in the middle of a stage. Each ends in one line (or a clean exit) with
no half-written output left where DVC could record it."""

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from pipeline.errors import ConfigError
from pipeline.io import atomic_output, write_json, write_jsonl
from pipeline.stage import run_stage
from pipeline.user_files import require_dependency

ROOT = Path(__file__).resolve().parents[1]


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def one_line_exit_2(capsys, main) -> str:
    with pytest.raises(SystemExit) as exc:
        run_stage(main)
    errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert exc.value.code == 2 and len(errors) == 1, errors
    return errors[0]


# ---------------------------------------------------------------- case 2: user paths escape the repository
@pytest.fixture
def project(tmp_path, monkeypatch):
    """A repository root holding the real dvc.yaml (so paths are checked against its deps), and a folder outside it."""
    repo, outside = tmp_path / "repo", tmp_path / "outside_model"
    (repo / "inputs/base").mkdir(parents=True)
    (repo / "inputs/policies").mkdir(parents=True)
    (repo / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    outside.mkdir()
    (outside / "config.json").write_text("{}")
    monkeypatch.chdir(repo)
    return repo, outside


def test_a_symlink_out_of_inputs_is_refused(project):
    repo, outside = project
    (repo / "inputs/base/escape").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ConfigError) as exc:
        require_dependency("inputs/base/escape", "policy.base", "base_policy")
    msg = str(exc.value)
    assert msg.startswith(f"policy.base: inputs/base/escape is outside the repository (it resolves to {outside.resolve()})")
    assert "copy it under inputs/base/" in msg and "\n" not in msg


def test_paths_inside_the_deps_still_pass_and_links_inside_the_repo_are_judged_by_their_target(project):
    repo, _ = project
    (repo / "inputs/base/mine").mkdir()
    require_dependency("inputs/base/mine", "policy.base", "base_policy")
    require_dependency(repo / "inputs/base/mine", "policy.base", "base_policy")  # absolute, inside
    (repo / "models").mkdir()
    (repo / "inputs/base/to_models").symlink_to(repo / "models", target_is_directory=True)
    with pytest.raises(ConfigError, match="policy.base: inputs/base/to_models is not a DVC dependency of stage 'base_policy'"):
        require_dependency("inputs/base/to_models", "policy.base", "base_policy")


def test_a_preference_file_outside_the_deps_is_told_its_own_folder(project):
    # stage prepare reads a corpus and a preference file: each param is told its own inputs/ folder
    with pytest.raises(ConfigError, match="move it under inputs/preferences/"):
        require_dependency("prefs.jsonl", "preferences.path", "prepare")
    with pytest.raises(ConfigError, match="move it under inputs/corpus/"):
        require_dependency("corpus.txt", "data.path", "prepare")


@pytest.mark.parametrize("kind", ["absolute", "symlink"])
def test_generate_refuses_an_extra_policy_outside_the_repository(project, capsys, kind):
    import stages.generate

    repo, outside = project
    path = str(outside)
    if kind == "symlink":
        (repo / "inputs/policies/mine").symlink_to(outside, target_is_directory=True)
        path = "inputs/policies/mine"
    (repo / "params.yaml").write_text(yaml.safe_dump({"generate": {"policies": ["base"], "extra_policies": {"mine": path}}}))
    before = files_under(repo)
    line = one_line_exit_2(capsys, stages.generate.main)
    assert line.startswith(f"error: generate.extra_policies.mine: {path} is outside the repository")
    assert "copy it under inputs/policies/" in line
    assert files_under(repo) == before  # refused before models/base is even read


# ---------------------------------------------------------------- case 6: a full disk or a file-size limit
@pytest.mark.parametrize(
    "code, expected",
    [
        (errno.ENOSPC, "no space left on the device writing {path}; free disk space and rerun"),
        (errno.EFBIG, "the file grew past this process's file-size limit (`ulimit -f`) writing {path}; raise the limit"),
    ],
)
def test_a_failed_write_is_one_line_and_leaves_no_output(tmp_path, monkeypatch, capsys, code, expected):
    monkeypatch.chdir(tmp_path)
    out = Path("results/generate/metrics.json")
    real_write = Path.write_text

    def write_fails(self, *args, **kwargs):
        if ".tmp-" in self.name:  # the writer of atomic outputs: half the bytes, then the OS error
            real_write(self, '{"half', encoding="utf-8")
            raise OSError(code, os.strerror(code), str(self))
        return real_write(self, *args, **kwargs)

    def main():
        write_jsonl("outputs/base.jsonl", [{"a": 1}])  # written before the failure: whole, not half
        monkeypatch.setattr(Path, "write_text", write_fails)
        write_json(out, {"n": 1})

    line = one_line_exit_2(capsys, main)
    monkeypatch.undo()
    written = re.search(r"writing (\S+);", line).group(1)  # the temporary the OS refused, then removed
    assert line.startswith("error: ") and line.removeprefix("error: ").startswith(expected.format(path=written))
    assert re.fullmatch(r"results/generate/\.metrics\.json\.tmp-[0-9a-f]{8}", written)
    assert files_under(tmp_path) == ["outputs", "outputs/base.jsonl", "results", "results/generate"]


def test_a_safetensors_save_on_a_full_disk_is_one_line_and_leaves_no_model(tmp_path, monkeypatch, capsys):
    import transformers.modeling_utils
    from safetensors import SafetensorError

    from pipeline.models import new_gpt2, save_model_with_manifest, train_tokenizer

    monkeypatch.chdir(tmp_path)
    tokenizer = train_tokenizer(["a b c d e f g"] * 20, vocab_size=300)
    model = new_gpt2(tokenizer, n_layer=1, n_head=2, n_embd=8, n_positions=16)

    def save_fails(tensors, filename, *args, **kwargs):
        Path(filename).write_bytes(b"\x00" * 100)  # a partial file, as a full disk leaves it
        # safetensors' own wording of a Rust I/O error (Debug of io::Error)
        raise SafetensorError(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
        )

    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", save_fails)
    line = one_line_exit_2(capsys, lambda: save_model_with_manifest(model, tokenizer, "models/base", {"stage": "test"}))
    assert line == "error: no space left on the device writing a safetensors file; free disk space and rerun"
    assert files_under(tmp_path) == ["models"]  # no models/base, no hidden temporary


@pytest.mark.parametrize(
    "error, expected",
    [
        ('Error while serializing: IoError(Os { code: 27, kind: FileTooLarge, message: "File too large" })', "file-size limit"),
        ("Error while serializing: I/O error: No space left on device (os error 28)", "no space left on the device"),
        ("Error while serializing: some other failure", "writing a safetensors file failed (Error while serializing"),
        ("Error while deserializing header: header too large", "a safetensors file is damaged or truncated"),
    ],
)
def test_safetensors_errors_become_one_line(capsys, error, expected):
    from safetensors import SafetensorError

    def main():
        raise SafetensorError(error)

    assert expected in one_line_exit_2(capsys, main)


def test_other_errors_still_raise():
    def main():
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        run_stage(main)


# ---------------------------------------------------------------- case 9: SIGTERM during a stage
def test_sigterm_removes_the_stage_temporaries(tmp_path):
    """A stage killed by SIGTERM while writing outputs/ (inside atomic_output) leaves no .outputs.tmp-* behind."""
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from pipeline.io import atomic_output
        from pipeline.stage import run_stage

        def main():
            with atomic_output("outputs") as tmp:
                tmp.mkdir()
                Path("started").write_text("1")
                time.sleep(60)

        run_stage(main)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        if (tmp_path / "started").exists() or proc.poll() is not None:
            break
        subprocess.run(["sleep", "0.05"])
    assert any(p.name.startswith(".outputs.tmp-") for p in tmp_path.iterdir())
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    assert files_under(tmp_path) == ["started"], proc.stderr.read()[-2000:]


def test_stage_temporaries_are_git_ignored():
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", ".outputs.tmp-1a2b3c4d", "models/.base.old-1a2b3c4d", "results/x/.m.json.tmp-0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert ignored == [".outputs.tmp-1a2b3c4d", "models/.base.old-1a2b3c4d", "results/x/.m.json.tmp-0"]


def test_atomic_output_cleans_up_on_any_exception(tmp_path):
    with pytest.raises(KeyError), atomic_output(tmp_path / "out.json") as tmp:
        tmp.write_text(json.dumps({"a": 1}))
        raise KeyError("boom")
    assert list(tmp_path.iterdir()) == []

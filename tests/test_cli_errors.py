"""Every command-line tool ends a bad invocation with one line on stderr and exit code 2, never a traceback."""

import sys

import pytest

import bench.generate_throughput
import bench.pipeline_stages
import bench.ppo_throughput
import bench.reward_data_efficiency
from pipeline import profiles
from pipeline.errors import run_cli
from reporting import compare


def one_line_exit_2(capsys, call) -> str:
    with pytest.raises(SystemExit) as exc:
        call()
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    return err[0]


def test_profiles_unknown_name_is_one_line(capsys, tmp_path):
    line = one_line_exit_2(capsys, lambda: run_cli(lambda: profiles.main(["nope", "--out", str(tmp_path / "p.yaml")])))
    assert "profile 'nope' not found; choose from ['default'" in line
    assert not (tmp_path / "p.yaml").exists()


def test_profiles_usage_errors_are_one_line(capsys, tmp_path):
    assert "required: name" in one_line_exit_2(capsys, lambda: profiles.main([]))
    assert "unrecognized arguments: --bogus" in one_line_exit_2(capsys, lambda: profiles.main(["tiny", "--bogus"]))
    unwritable = tmp_path / "missing" / "p.yaml"
    assert "--out: cannot write" in one_line_exit_2(
        capsys, lambda: run_cli(lambda: profiles.main(["tiny", "--out", str(unwritable)]))
    )


def test_profiles_good_name_still_writes(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        run_cli(lambda: profiles.main(["tiny", "--out", str(tmp_path / "p.yaml")]))
    assert exc.value.code == 0 and "block_size: 32" in (tmp_path / "p.yaml").read_text()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--dpi", "0"], "argument --dpi: 0 must be at least 1"),
        (["--dpi", "x"], "argument --dpi: 'x' is not an integer"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_compare_usage_errors_are_one_line(argv, expected, capsys):
    assert expected in one_line_exit_2(capsys, lambda: compare.main(argv))


def test_compare_bad_input_files_return_2(tmp_path, capsys):
    not_objects = tmp_path / "exp.json"
    not_objects.write_text('[1, "x"]')
    assert compare.main(["--input", str(not_objects), "--out-dir", str(tmp_path / "o")]) == 2
    assert compare.main(["--input", str(tmp_path / "missing.json"), "--out-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "error: expected a JSON list of objects (the output of `dvc exp show --json`)" and len(err) == 2


@pytest.mark.parametrize(
    ("module", "argv", "expected"),
    [
        (bench.pipeline_stages, ["--stages", "nope"], "argument --stages: invalid choice: 'nope'"),
        (bench.generate_throughput, ["--k", "0"], "argument --k: 0 must be at least 1"),
        (bench.generate_throughput, ["--prompts", "many"], "argument --prompts: 'many' is not an integer"),
        (bench.reward_data_efficiency, ["--grid", "2400y8"], "argument --grid: '2400y8' is not PROMPTSxK"),
        (bench.reward_data_efficiency, ["--grid", "2400x1"], "K >= 2"),
        (bench.reward_data_efficiency, ["--test-prompts", "-3"], "argument --test-prompts: -3 must be at least 1"),
    ],
)
def test_bench_usage_errors_are_one_line(module, argv, expected, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [module.__name__, *argv])
    assert expected in one_line_exit_2(capsys, module.main)


@pytest.mark.parametrize(
    ("argv", "expected"), [(["--threads", "-1"], "--threads: -1 must be at least 1"), (["--updates", "0"], "--updates: 0")]
)
def test_ppo_bench_usage_errors_are_one_line(argv, expected, capsys):
    assert expected in one_line_exit_2(capsys, lambda: bench.ppo_throughput.parse_args(argv))


def test_bench_missing_params_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["bench.reward_data_efficiency"])
    assert "params.yaml: not found" in one_line_exit_2(capsys, lambda: run_cli(bench.reward_data_efficiency.main))


def test_a_full_disk_is_one_line_and_other_os_errors_are_not_hidden(capsys):
    import errno

    def write_fails(code):
        raise OSError(code, "simulated", "models/base/model.safetensors")

    line = one_line_exit_2(capsys, lambda: run_cli(lambda: write_fails(errno.ENOSPC)))
    assert line == "error: no space left on the device writing models/base/model.safetensors; free disk space and rerun"
    with pytest.raises(PermissionError):
        run_cli(lambda: write_fails(errno.EACCES))

"""reporting.exps: the experiments table from `dvc exp show --json`, every line within the width.

Fixtures (tests/fixtures/exps/), DVC 3.67 `dvc exp show --json` output with `deps`/`outs` emptied:
- main_old_layout.json: this repository's workspace and baseline, summary.json in the layout before the role keys.
- toy_queue.json, toy_running.json: a toy repository (one `python -c` stage writing role-layout metrics to
  summary.json; params seed, device, lr, curves.ppo_kl_coef, report.n_samples_shown, fail, sleep) with experiments
  run by `dvc exp run -n`, and by the queue: a success, a failure (`fail=1`), a queued one and a running one.
- project_queue3.json: main_old_layout.json with the committed run's metrics in the role layout
  (reporting.summary.summary_metrics) and three experiments in the toy queue's envelopes (queued, running, success)
  with this project's params: seed=1 with +ppo.gamma=1.0 (the default) and sampling.cache=static; annotator.epsilon=0
  with device=cpu; curves.ppo_kl_coef=[0.01,0.1,0.3] with generate.batch_size=128 and report.n_samples_shown=3.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config import Params
from reporting import exps
from reporting.exps import OUTPUT_NEUTRAL_PARAMS, is_output_neutral, runs_from_json, short_value, table

FIXTURES = Path(__file__).parent / "fixtures" / "exps"


def load(name: str) -> list[dict]:
    return json.loads((FIXTURES / name).read_text())


def lines_of(name: str, width: int = 120) -> list[str]:
    return table(runs_from_json(load(name)), width).lines


def row(lines: list[str], name: str) -> str:
    (line,) = [ln for ln in lines if ln.split()[:1] == [name]]
    return line


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
@pytest.mark.parametrize("width", [120, 80, 60, 40])
def test_every_line_fits_the_width(name, width):
    lines = lines_of(name, width)
    assert lines and all(len(line) <= width for line in lines), [len(line) for line in lines]


def test_project_queue_shows_changed_params_and_hides_the_rest():
    lines = lines_of("project_queue3.json")
    head = lines[0]
    assert head.startswith("Experiment") and "changed params" in head
    assert "base gold" in head and "PPO best@KL" in head
    body = "\n".join(lines[1:6])
    assert "ppo_kl=[0.01,0.1,0.3]" in row(lines, "ppo-kl-wide")
    assert "ppo_kl=[0.01,0.1]" in row(lines, "main")
    assert "ann.epsilon=0" in row(lines, "eps0") and "ann.epsilon=0.25" in row(lines, "main")
    assert "seed=1" in row(lines, "seed1-gamma-default") and "seed=0" in row(lines, "workspace")
    # unchanged, output-neutral, or changed to the default a run leaves out: never shown
    for hidden in ("gamma=", "cache=", "device=", "batch_size=", "n_samples_shown=", "dpo_beta=", "lr=", "tau="):
        assert hidden not in body, hidden
    assert [ln.split()[0] for ln in lines[1:6]] == ["workspace", "main", "seed1-gamma-default", "eps0", "ppo-kl-wide"]


def test_states_and_metrics_of_unfinished_runs():
    lines = lines_of("project_queue3.json", width=200)
    assert "State" in lines[0]
    queued, running, done = row(lines, "seed1-gamma-default"), row(lines, "eps0"), row(lines, "ppo-kl-wide")
    assert " queued " in queued and " running " in running and " success " in done
    # a queued or running run's metrics are not its own: "-"
    assert "-0.748" not in queued and "-0.748" not in running
    assert "-0.748" in done and "-0.415@6.2" in done and "-0.561" in done  # base gold, PPO best@KL, PPO@KL3
    assert "-0.595" in row(lines, "main")


def test_wide_table_keeps_every_nonempty_column_and_drops_empty_ones():
    head = lines_of("project_queue3.json", width=200)[0]
    for header in ("base gold", "RM acc", "PPO best@KL", "PPO@KL3", "BoN best@KL", "DPO best@KL", "RLOO best@KL"):
        assert header in head
    assert "GRPO" not in head  # no run has GRPO curves


def test_narrow_table_drops_low_priority_columns_and_says_so():
    result = table(runs_from_json(load("project_queue3.json")), 120)
    assert result.dropped and "PPO best@KL" not in result.dropped and "base gold" not in result.dropped
    assert any(line.startswith("left out to fit 120 columns:") for line in result.lines)
    assert "PPO best@KL" in result.lines[0]


def test_toy_queue_failed_queued_and_named_experiments():
    runs = runs_from_json(load("toy_queue.json"))
    states = {run.name: run.state for run in runs}
    assert states == {
        "workspace": "",
        "main": "",
        "q-lr": "success",
        "seed1": "",
        "lr-high": "",
        "q-waiting": "queued",
        "broken": "failed",
    }
    lines = lines_of("toy_queue.json")
    assert "fail=1" in row(lines, "broken") and "-0.400@6.1" not in row(lines, "broken")
    assert "ppo_kl=[0.01,0.1,1]" in row(lines, "q-waiting")
    assert "lr=0.005" in row(lines, "q-lr") and "-0.405@6.1" in row(lines, "q-lr")
    assert "device" not in lines[0] + "".join(lines) and "n_samples_shown" not in "".join(lines)


def test_running_experiment_and_missing_metrics_file():
    lines = lines_of("toy_running.json")
    assert "running" in row(lines, "slow") and "sleep=25" in row(lines, "slow")
    payload = load("toy_running.json")
    payload[0]["data"]["metrics"] = {"summary.json": {"error": {"type": "FileNotFoundError", "msg": "no file"}}}
    (ws,) = [r for r in runs_from_json(payload) if r.name == "workspace"]
    assert ws.metrics == {}
    assert row(table(runs_from_json(payload)).lines, "workspace").split()[-1] == "-"


def test_old_layout_is_read():
    lines = lines_of("main_old_layout.json")
    assert "-0.748" in row(lines, "main") and "-0.415@6.2" in row(lines, "main") and "-0.341@3.2" in row(lines, "main")
    assert any("no param that can change the outputs differs" in line for line in lines)


def test_compact_values():
    assert short_value([0.01, 0.1]) == "[0.01,0.1]"
    assert short_value(1e-5) == "1e-5" and short_value(0.0001) == "0.0001" and short_value(3e-4) == "0.0003"
    assert short_value(None) == "null" and short_value(True) == "true" and short_value(1.0) == "1"
    assert exps.short_key("curves.ppo_kl_coef") == "ppo_kl" and exps.short_key("curves.dpo_beta") == "dpo_beta"
    assert exps.short_key("reward_model.lr") == "rm.lr" and exps.short_key("seed") == "seed"


def test_output_neutral_params_name_real_knobs():
    keys = set(exps.flatten(Params().model_dump(mode="json")))
    for pattern in OUTPUT_NEUTRAL_PARAMS:
        assert any(is_output_neutral(k) for k in keys if k == pattern or pattern.endswith("*")), pattern
        assert pattern.endswith("*") or pattern in keys, f"{pattern} is not a params key"
    assert is_output_neutral("report.figure_dpi") and is_output_neutral("generate.batch_size")
    assert not is_output_neutral("ppo.batch_size") and not is_output_neutral("reward_model.batch_size")


def test_cli_reads_input_and_errors_in_one_line(tmp_path, capsys):
    assert exps.main(["--input", str(FIXTURES / "project_queue3.json"), "--width", "100"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out and all(len(line) <= 100 for line in out)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(exps.ConfigError, match="not `dvc exp show --json` output"):
        exps.main(["--input", str(bad)])
    with pytest.raises(SystemExit):
        exps.main(["--width", "10", "--input", str(bad)])

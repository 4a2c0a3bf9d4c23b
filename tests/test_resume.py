"""Resume safety: checkpoints belong to the exact inputs they were trained on, and a half-written
pretraining checkpoint never blocks a rerun."""

import json
import os
import shutil
from types import SimpleNamespace

import pytest

from pipeline.config import Params, PolicyConfig
from pipeline.io import tree_digest
from pipeline.pretrain import config_fingerprint, prepare_checkpoint_dir
from rl.ppo_checkpoint import load_checkpoint, run_fingerprint
from tests.dvc_repo import commit, dvc, make_repo, repro_killed_when, set_param


def test_tree_digest_follows_content_not_timestamps(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("alpha")
    (tmp_path / "d" / "sub" / "b.bin").write_bytes(b"\x00\x01")
    first = tree_digest(tmp_path / "d")
    os.utime(tmp_path / "d" / "a.txt", (0, 0))
    assert tree_digest(tmp_path / "d") == first
    (tmp_path / "d" / "a.txt").write_text("alphb")  # same size, one byte differs
    assert tree_digest(tmp_path / "d") != first
    (tmp_path / "d" / "a.txt").write_text("alpha")
    (tmp_path / "d" / "a.txt").rename(tmp_path / "d" / "c.txt")  # same bytes under another name
    assert tree_digest(tmp_path / "d") != first
    assert tree_digest(tmp_path / "d" / "c.txt") != tree_digest(tmp_path / "d" / "sub" / "b.bin")


def test_pretraining_fingerprint_follows_corpus_content(tmp_path):
    """Two corpora with as many texts (the old fingerprint used the count) must not share checkpoints."""
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"text": "one corpus"}\n{"text": "two"}\n')
    b.write_text('{"text": "another one"}\n{"text": "two"}\n')
    cfg = PolicyConfig()
    assert config_fingerprint(cfg, 0, tree_digest(a)) != config_fingerprint(cfg, 0, tree_digest(b))
    assert config_fingerprint(cfg, 0, tree_digest(a)) == config_fingerprint(cfg, 0, tree_digest(a))


def _inputs(root):
    for name, files in {
        "models/base": {"model.safetensors": b"base"},
        "models/reward": {"model.safetensors": b"rm-1"},
        "data/prompts": {"train.jsonl": b'{"prompt": "a"}\n'},
    }.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for file, data in files.items():
            (root / name / file).write_bytes(data)
    return tuple(root / n for n in ("models/base", "models/reward", "data/prompts"))


def test_ppo_checkpoint_of_another_reward_model_is_discarded(tmp_path):
    """Same params, retrained reward model: the checkpoint stamped with the old inputs is dropped, not resumed."""
    inputs = _inputs(tmp_path)
    ckpt = tmp_path / "checkpoints" / "ppo"
    ckpt.mkdir(parents=True)
    old = run_fingerprint(Params(), 1, 0.05, inputs)
    (ckpt / "fingerprint.txt").write_text(old)
    assert run_fingerprint(Params(), 1, 0.05, inputs) == old  # unchanged inputs: resumable
    (tmp_path / "models/reward/model.safetensors").write_bytes(b"rm-2")
    new = run_fingerprint(Params(), 1, 0.05, inputs)
    assert new != old
    trainer = SimpleNamespace(acc=SimpleNamespace(is_main_process=True, device="cpu"))
    assert load_checkpoint(trainer, ckpt, new) is False
    assert not ckpt.exists()


def _checkpoint(folder, step, complete=True):
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    save_file({"w": torch.zeros(64)}, str(folder / "model.safetensors"))
    torch.save({"step": step}, folder / "optimizer.pt")
    state = json.dumps({"global_step": step, "log_history": []})
    (folder / "trainer_state.json").write_text(state if complete else state[: len(state) // 2])


@pytest.mark.parametrize("newest", ["truncated state", "no state"])
def test_incomplete_trainer_checkpoint_is_dropped_and_the_previous_kept(tmp_path, newest):
    ckpt = tmp_path / "ckpt"
    prepare_checkpoint_dir(ckpt, "fp")
    _checkpoint(ckpt / "checkpoint-2", 2)
    _checkpoint(ckpt / "checkpoint-4", 4, complete=False)
    if newest == "no state":
        (ckpt / "checkpoint-4" / "trainer_state.json").unlink()
    assert prepare_checkpoint_dir(ckpt, "fp") is True
    assert sorted(p.name for p in ckpt.glob("checkpoint-*")) == ["checkpoint-2"]
    shutil.rmtree(ckpt / "checkpoint-2")
    _checkpoint(ckpt / "checkpoint-6", 6, complete=False)
    assert prepare_checkpoint_dir(ckpt, "fp") is False  # nothing complete: start afresh
    assert not list(ckpt.glob("checkpoint-*"))


@pytest.mark.parametrize("damaged", ["model.safetensors", "optimizer.pt"])
def test_a_complete_but_damaged_trainer_checkpoint_is_dropped(tmp_path, caplog, damaged):
    """Issue 26 case 3 for pretraining: a checkpoint truncated after it was complete (`truncate -s 100`) would make
    the Trainer fail on every rerun; it is discarded with one logged line and the previous one is used."""
    ckpt = tmp_path / "ckpt"
    prepare_checkpoint_dir(ckpt, "fp")
    _checkpoint(ckpt / "checkpoint-2", 2)
    _checkpoint(ckpt / "checkpoint-4", 4)
    os.truncate(ckpt / "checkpoint-4" / damaged, 100)
    with caplog.at_level("WARNING", logger="rlhf_bench"):
        assert prepare_checkpoint_dir(ckpt, "fp") is True
    assert sorted(p.name for p in ckpt.glob("checkpoint-*")) == ["checkpoint-2"]
    lines = [r.getMessage() for r in caplog.records if "failed to load" in r.getMessage()]
    assert len(lines) == 1 and f"checkpoint-4 failed to load ({damaged}: " in lines[0] and "discarded" in lines[0]


# ---------------------------------------------------------------- PPO: a damaged checkpoint, and byte-identical resumed files
def _interrupted_ppo_run(model_dir, ckpt, callbacks=()):
    """A PPO run of 4 updates stopped after its checkpoint at update 2 (as a SIGKILL would leave it)."""
    from rl.ppo_checkpoint import CheckpointCallback
    from tests.test_ppo_trainer import Interrupt, InterruptAt, make_trainer

    first, queries = make_trainer(model_dir, total_updates=4)
    with pytest.raises(Interrupt):
        first.train(queries, callbacks=[*callbacks, CheckpointCallback(ckpt, "fp", every=2), InterruptAt(3)], progress=False)


@pytest.mark.parametrize(
    "damage",
    ["truncated policy weights", "truncated value weights", "truncated optimizer", "cut state.json", "another model's weights"],
)
def test_a_ppo_checkpoint_that_fails_to_load_is_discarded_and_the_run_starts_fresh(tiny_model_dir, tmp_path, caplog, damage):
    """Issue 26 case 3: `truncate -s 100 checkpoints/ppo/<curve>/policy/model.safetensors` used to give a
    SafetensorError on every rerun. Now: one logged line, the folder is gone, and nothing of it reached the models."""
    import torch
    from safetensors.torch import save_file

    from tests.test_ppo_trainer import make_trainer

    ckpt = tmp_path / "ckpt"
    _interrupted_ppo_run(tiny_model_dir, ckpt)
    if damage == "truncated policy weights":
        os.truncate(ckpt / "policy/model.safetensors", 100)
    elif damage == "truncated value weights":  # the policy reads fine: it must not be applied alone
        os.truncate(ckpt / "value/model.safetensors", 100)
    elif damage == "truncated optimizer":
        os.truncate(ckpt / "optimizer.pt", 100)
    elif damage == "cut state.json":
        text = (ckpt / "state.json").read_text()
        (ckpt / "state.json").write_text(text[: len(text) // 2])
    else:
        save_file({"transformer.wte.weight": torch.zeros(3, 3)}, str(ckpt / "value/model.safetensors"))
    fresh, queries = make_trainer(tiny_model_dir, total_updates=4)
    before = {k: v.clone() for k, v in fresh.unwrapped.state_dict().items()}
    with caplog.at_level("INFO", logger="rlhf_bench"):
        assert load_checkpoint(fresh, ckpt, "fp") is False
    lines = [r.getMessage() for r in caplog.records if r.name == "rlhf_bench"]
    assert len(lines) == 1 and lines[0].startswith(f"ppo: checkpoint in {ckpt} failed to load (")
    assert lines[0].endswith("; discarded, the run starts fresh") and "\n" not in lines[0]
    assert not ckpt.exists() and fresh.state.update == 0
    assert all(torch.equal(before[k], v) for k, v in fresh.unwrapped.state_dict().items())
    assert [h["update"] for h in fresh.train(queries, progress=False)] == [0, 1, 2, 3, 4]  # and it runs from the start


def test_a_resumed_ppo_run_writes_byte_identical_curve_files(tiny_model_dir, tmp_path):
    """Issue 26 case 8: resumed after a kill, eval.csv and eval_samples.jsonl used to differ from an uninterrupted
    run's in key order (their rows went through state.json with sorted keys). Now every curve file is byte-identical."""
    from pipeline.models import load_tokenizer
    from rl.ppo_eval import EvalCallback, write_curve_files
    from tests.test_ppo_trainer import PROMPTS, make_trainer

    prompts = [{"prompt_id": i, "prompt": p} for i, p in enumerate(PROMPTS)]
    tok = load_tokenizer(tiny_model_dir)

    def evaluator():
        return EvalCallback(tok, prompts, None, seed=0, every=2, samples_per_prompt=2)

    straight, queries = make_trainer(tiny_model_dir, total_updates=4)
    write_curve_files(tmp_path / "straight", straight.train(queries, [evaluator()], progress=False), straight.state.eval_samples)
    _interrupted_ppo_run(tiny_model_dir, tmp_path / "ckpt", [evaluator()])
    resumed, queries = make_trainer(tiny_model_dir, total_updates=4)
    assert load_checkpoint(resumed, tmp_path / "ckpt", "fp") and resumed.state.update == 2
    write_curve_files(tmp_path / "resumed", resumed.train(queries, [evaluator()], progress=False), resumed.state.eval_samples)
    for name in ("eval.csv", "eval_samples.jsonl"):
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "straight" / name).read_bytes(), name
    samples = (tmp_path / "straight/eval_samples.jsonl").read_text().splitlines()
    assert len(samples) == 4 * len(PROMPTS) * 2  # updates 0, 1 (a power of two below every=2), 2 and 4


# ---------------------------------------------------------------- end to end: a half-written checkpoint, then dvc repro
def interrupt_after_checkpoint(repo, timeout: float = 300) -> int:
    """`dvc repro base_policy`, SIGKILLed once a complete pretraining checkpoint exists; returns its step."""

    def complete_checkpoints() -> list:
        return list((repo / "checkpoints/base_policy").glob("checkpoint-*/trainer_state.json"))

    done = repro_killed_when(repo, complete_checkpoints, timeout, "the first pretraining checkpoint", "base_policy")
    return max(int(p.parent.name.split("-")[1]) for p in done)


@pytest.mark.slow
def test_half_written_checkpoint_does_not_break_dvc_repro(tmp_path):
    repo = make_repo(tmp_path)
    set_param(repo, "policy.max_steps", 60)
    set_param(repo, "policy.checkpoint_every", 2)
    commit(repo, "long enough to interrupt")
    step = interrupt_after_checkpoint(repo)
    # what a kill (or a full disk) during the next save leaves: weights cut short, no trainer state yet
    complete = repo / "checkpoints/base_policy" / f"checkpoint-{step}"
    torn = complete.with_name(f"checkpoint-{step + 2}")
    shutil.rmtree(torn, ignore_errors=True)
    torn.mkdir()
    weights = (complete / "model.safetensors").read_bytes()
    (torn / "model.safetensors").write_bytes(weights[: len(weights) // 3])
    proc = dvc(repo, "repro", "base_policy")
    assert "resuming pretraining" in proc.stdout + proc.stderr  # the complete checkpoint is used, the torn one dropped
    assert json.loads((repo / "results/base_policy/metrics.json").read_text())["steps"] == 60
    assert not list((repo / "checkpoints/base_policy").glob("checkpoint-*"))


@pytest.mark.parametrize("left", [("old",), ("tmp",), ("old", "tmp")])
def test_a_kill_between_the_checkpoint_renames_keeps_a_complete_checkpoint(tmp_path, left):
    """atomic_output swaps checkpoints with two renames; killed between them, only hidden siblings remain."""
    from rl.ppo_checkpoint import recover_interrupted_save

    ckpt = tmp_path / "kl0.03"
    for kind in left:
        sibling = tmp_path / f".kl0.03.{kind}-abcd1234"
        sibling.mkdir()
        (sibling / "fingerprint.txt").write_text(kind)
    (tmp_path / ".kl0.03.tmp-incomplete").mkdir()  # no fingerprint: a save killed mid-way, never used
    recover_interrupted_save(ckpt)
    assert (ckpt / "fingerprint.txt").read_text() == ("tmp" if "tmp" in left else "old")  # the newest complete one

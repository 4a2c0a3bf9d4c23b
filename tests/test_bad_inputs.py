"""The bad-input matrix: each case ends in one line naming the key/file/row and the fix, exit 2, no output."""

import importlib
import json
import shutil
import time

import pytest
import torch
import yaml

from pipeline.stage import run_stage


def snapshot(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts)


def write_params(root, **sections):
    (root / "params.yaml").write_text(yaml.safe_dump(sections))


def run_case(root, stage, capsys, monkeypatch):
    monkeypatch.chdir(root)
    before = snapshot(root)
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exc:
        run_stage(importlib.import_module(f"stages.{stage}").main)
    elapsed = time.perf_counter() - start
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert exc.value.code == 2
    assert len(err) == 1, err
    assert snapshot(root) == before, "a failing stage must not write outputs"
    assert elapsed < 30
    return err[0]


def _file_corpus(root, content: bytes):
    (root / "corpus.txt").write_bytes(content)
    write_params(root, data={"source": "file", "path": "corpus.txt"})


def _prefs(root, rows, model_dir):
    shutil.copytree(model_dir, root / "models" / "base")
    (root / "prefs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_params(root, preferences={"source": "file", "path": "prefs.jsonl"})


def _extra_policy(root, model_dir, kind):
    shutil.copytree(model_dir, root / "models" / "base")
    bad = root / "bad_policy"
    bad.mkdir()
    shutil.copy(model_dir / "config.json", bad / "config.json")
    if kind == "pickle":
        (bad / "pytorch_model.bin").write_bytes(b"never unpickled")
    write_params(root, generate={"policies": ["base"], "extra_policies": {"mine": "bad_policy"}})


CASES = {
    "unknown key": ("prepare", lambda r, m: write_params(r, ppo={"kl_coeff": 0.1}), "ppo.kl_coeff: unknown key"),
    "wrong type": ("prepare", lambda r, m: write_params(r, ppo={"batch_size": "32"}), "ppo.batch_size: Input should be a valid integer"),
    "negative lr": ("ppo", lambda r, m: write_params(r, ppo={"lr": -0.001}), "ppo.lr: Input should be greater than 0"),
    "negative kl_coef": ("ppo", lambda r, m: write_params(r, ppo={"kl_coef": -0.1}), "ppo.kl_coef: Input should be greater than or equal to 0"),
    "minibatches": ("ppo", lambda r, m: write_params(r, ppo={"batch_size": 30, "num_minibatches": 4}), "must be divisible by ppo.num_minibatches=4"),
    "missing corpus": ("prepare", lambda r, m: write_params(r, data={"source": "file", "path": "nope.txt"}), "data.path: nope.txt does not exist"),
    "empty corpus": ("prepare", lambda r, m: _file_corpus(r, b"\n\n"), "corpus is empty"),
    "invalid utf-8": ("prepare", lambda r, m: _file_corpus(r, b"good line here\n\xff\xfe bad bytes\n"), "corpus.txt: invalid UTF-8 at byte"),
    "preference column": ("preferences", lambda r, m: _prefs(r, [{"prompt": "p", "chosen": "a"}], m), "prefs.jsonl: row 1 is missing column 'rejected'"),
    "identical pair": ("preferences", lambda r, m: _prefs(r, [{"prompt": "p", "chosen": "a", "rejected": "a"}], m), "row 1 has identical chosen and rejected"),
    "missing weights": ("generate", lambda r, m: _extra_policy(r, m, "none"), "bad_policy has no model.safetensors"),
    "pickle checkpoint": ("generate", lambda r, m: _extra_policy(r, m, "pickle"), "pickle weights (pytorch_model.bin); refused"),
    "hub name offline": ("base_policy", lambda r, m: write_params(r, policy={"base": "nobody/no-such-model"}), "policy.base: cannot load 'nobody/no-such-model'"),
    "unknown policy": ("generate", lambda r, m: write_params(r, generate={"policies": ["base", "dpo"]}), "generate.policies: unknown policy 'dpo'"),
    "missing input": ("reward_model", lambda r, m: write_params(r), "reward_model.backbone: models/base is not a directory; run the stage"),
    "unknown gold": ("preferences", lambda r, m: write_params(r, annotator={"gold": "toxicity"}), "annotator.gold: unknown scorer 'toxicity'"),
    "missing rm backbone": ("reward_model", lambda r, m: (shutil.copytree(m, r / "models" / "base"), write_params(r, reward_model={"backbone": "nowhere"})), "reward_model.backbone: nowhere is not a directory"),
}
if not torch.cuda.is_available():
    CASES["cuda without cuda"] = ("base_policy", lambda r, m: write_params(r, device="cuda"), "device: 'cuda' requested but CUDA is not available")


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case, tmp_path, tiny_model_dir, capsys, monkeypatch):
    stage, setup, expected = CASES[case]
    if case == "hub name offline":
        (tmp_path / "data" / "corpus").mkdir(parents=True)
        for split in ("train", "validation"):
            (tmp_path / "data" / "corpus" / f"{split}.jsonl").write_text('{"text": "hello world"}\n')
    setup(tmp_path, tiny_model_dir)
    line = run_case(tmp_path, stage, capsys, monkeypatch)
    assert expected in line, line

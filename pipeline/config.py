"""Typed, validated parameters.

`params.yaml` loads into the pydantic models below. Unknown keys, wrong types and
out-of-range values fail at load time with one line naming the key, before any
data or model is touched (stages call `load_params()` first).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PARAMS_FILE = Path("params.yaml")


class ConfigError(ValueError):
    """A one-line, user-facing error about params or inputs."""


class _Section(BaseModel):
    # strict: a YAML "1" is not an int, and 3 is not silently a bool; extra: unknown keys fail.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# ---------------------------------------------------------------- data (stage prepare)
class DataConfig(_Section):
    source: Literal["fortunes", "file", "hub"] = Field("fortunes", description="corpus: the embedded fortune files, a local file, or a hub dataset")
    path: str | None = Field(None, description="local .txt/.jsonl/.parquet file when source=file")
    text_field: str = Field("text", description="column holding the text in jsonl/parquet/hub data")
    hub_dataset: str | None = Field(None, description="hub dataset id when source=hub")
    hub_split: str = Field("train", description="hub split to read")
    fortune_files: list[str] = Field(["fortunes", "limerick", "murphy", "startrek", "zippy"], description="fortune files to use (never the offensive -o ones)")
    val_fraction: float = Field(0.05, gt=0, lt=0.5, description="share of entries held out for validation (perplexity)")
    test_fraction: float = Field(0.05, gt=0, lt=0.5, description="share of entries held out for evaluation prompts")
    min_chars: int = Field(16, ge=1, description="entries shorter than this are dropped")
    prompt_words: int = Field(4, ge=1, le=64, description="a prompt is the first N words of an entry")
    n_eval_prompts: int = Field(128, ge=1, description="held-out evaluation prompts (from the test split)")

    @model_validator(mode="after")
    def _source_needs_location(self) -> DataConfig:
        if self.source == "file" and not self.path:
            raise ValueError("data.path: required when data.source=file (a .txt, .jsonl or .parquet file)")
        if self.source == "hub" and not self.hub_dataset:
            raise ValueError("data.hub_dataset: required when data.source=hub (a dataset id, or use source=file)")
        return self


# ---------------------------------------------------------------- policy (stage base_policy)
class PolicyConfig(_Section):
    base: str = Field("scratch", description="'scratch' (pretrain a small GPT-2 here), 'smollm2-135m', a hub name such as 'gpt2', or a local HF directory")
    vocab_size: int = Field(4096, ge=256, description="BPE vocabulary size when training a tokenizer (scratch)")
    n_layer: int = Field(4, ge=1)
    n_head: int = Field(4, ge=1)
    n_embd: int = Field(128, ge=8)
    block_size: int = Field(128, ge=16, description="context length for pretraining and the model's n_positions")
    batch_size: int = Field(16, ge=1)
    max_steps: int = Field(600, ge=1, description="pretraining optimizer steps (fixed, not a time limit)")
    lr: float = Field(1e-3, gt=0, le=1)
    warmup_steps: int = Field(50, ge=0)
    weight_decay: float = Field(0.01, ge=0)
    eval_batches: int = Field(20, ge=1, description="validation batches for held-out perplexity")
    checkpoint_every: int = Field(200, ge=1, description="save a resumable checkpoint every N steps")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> PolicyConfig:
        if self.n_embd % self.n_head:
            raise ValueError(f"policy.n_embd: {self.n_embd} must be divisible by policy.n_head={self.n_head}")
        return self


# ---------------------------------------------------------------- feedback
class AnnotatorConfig(_Section):
    gold: str = Field("vader", description="gold scorer name (see pipeline.gold.GOLD_SCORERS)")
    tau: float = Field(0.1, gt=0, description="temperature of p(a>b) = sigmoid((g_a - g_b)/tau)")
    epsilon: float = Field(0.25, ge=0, le=1, description="probability a label is replaced by a fair coin")
    ties: Literal["drop", "coin"] = Field("drop", description="pairs with equal gold: drop them, or label by a fair coin")


class PreferencesConfig(_Section):
    source: Literal["simulated", "file", "hub"] = Field("simulated")
    path: str | None = Field(None, description="jsonl/parquet/csv preference file when source=file")
    hub_dataset: str | None = Field(None)
    hub_split: str = Field("train")
    n_prompts: int = Field(3000, ge=1, description="training prompts to sample continuations for")
    samples_per_prompt: int = Field(8, ge=2, description="k continuations per prompt; all k*(k-1)/2 pairs are labelled")
    max_new_tokens: int = Field(24, ge=1)
    stop_at_eos: bool = Field(False, description="cut responses at the first EOS (true) or sample fixed-length responses (false); must agree across preferences, ppo and generate")
    temperature: float = Field(1.0, gt=0)
    batch_size: int = Field(1024, ge=1)
    test_fraction: float = Field(0.1, gt=0, lt=1)

    @model_validator(mode="after")
    def _source_needs_location(self) -> PreferencesConfig:
        if self.source == "file" and not self.path:
            raise ValueError("preferences.path: required when preferences.source=file")
        if self.source == "hub" and not self.hub_dataset:
            raise ValueError("preferences.hub_dataset: required when preferences.source=hub")
        return self


class RewardModelConfig(_Section):
    backbone: str = Field("base", description="'base' (the base policy) or a local HF directory")
    pooling: Literal["last", "mean", "sum"] = Field(
        "sum", description="sequence score from per-token head outputs: last token (classic), mean, or sum over tokens"
    )
    epochs: float = Field(1.0, gt=0, description="passes over the pairs (measured: a 2nd epoch overfits, bench/RESULTS.md)")
    lr: float = Field(1e-3, gt=0, le=1)
    lr_scheduler: Literal["constant", "linear", "cosine"] = Field("linear", description="learning-rate schedule over training (HF Trainer's)")
    batch_size: int = Field(128, ge=1, description="pairs per step, packed as whole prompt groups (each response scored once per step)")
    max_length: int = Field(64, ge=8)
    weight_decay: float = Field(0.0, ge=0)
    calibration_bins: int = Field(10, ge=2)


# ---------------------------------------------------------------- PPO
class PPOConfig(_Section):
    total_updates: int = Field(60, ge=1, description="PPO updates (each = one rollout batch)")
    batch_size: int = Field(32, ge=1, description="episodes (prompts) per rollout")
    num_minibatches: int = Field(1, ge=1)
    ppo_epochs: int = Field(4, ge=1)
    lr: float = Field(3e-4, gt=0, le=1)
    anneal_lr: bool = Field(True)
    kl_coef: float = Field(0.05, ge=0, description="beta of the per-token KL penalty")
    kl_estimator: Literal["k1", "k3"] = Field("k1")
    adaptive_kl: bool = Field(False)
    target_kl: float = Field(6.0, gt=0, description="adaptive KL target (nats per sequence)")
    kl_horizon: int = Field(10000, ge=1)
    response_length: int = Field(24, ge=1)
    stop_at_eos: bool = Field(False, description="cut responses at the first EOS (true) or sample fixed-length responses (false); must agree across preferences, ppo and generate")
    temperature: float = Field(1.0, gt=0)
    missing_eos_penalty: float | None = Field(None, description="subtracted from the score of responses with no EOS")
    whiten_rewards: bool = Field(False)
    gamma: float = Field(1.0, ge=0, le=1)
    lam: float = Field(0.95, ge=0, le=1)
    cliprange: float = Field(0.2, gt=0)
    cliprange_value: float = Field(0.2, gt=0)
    vf_coef: float = Field(0.1, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    eval_every: int = Field(10, ge=1)
    n_eval_prompts: int = Field(64, ge=1)
    checkpoint_every: int = Field(20, ge=1)

    @model_validator(mode="after")
    def _minibatches_divide_batch(self) -> PPOConfig:
        if self.batch_size % self.num_minibatches:
            raise ValueError(f"ppo.batch_size: {self.batch_size} must be divisible by ppo.num_minibatches={self.num_minibatches}")
        return self


# ---------------------------------------------------------------- generate / evaluate / report
KNOWN_POLICIES = ("base", "ppo")


class GenerateConfig(_Section):
    policies: list[str] = Field(["base", "ppo"], description="built-in policies to sample: base, ppo")
    extra_policies: dict[str, str] = Field({}, description="name -> local HF directory of another policy")
    samples_per_prompt: int = Field(16, ge=1, description="k samples per held-out prompt (also the largest best-of-n)")
    max_new_tokens: int = Field(24, ge=1)
    stop_at_eos: bool = Field(False, description="cut responses at the first EOS (true) or sample fixed-length responses (false); must agree across preferences, ppo and generate")

    temperature: float = Field(1.0, gt=0)
    batch_size: int = Field(256, ge=1)
    static_cache: bool = Field(False, description="sample with transformers' generate and a preallocated KV cache, which it compiles on CUDA (2.6x on an H200, bench/RESULTS.md); other draws than the default loop for the same seed")

    @model_validator(mode="after")
    def _known_policies(self) -> GenerateConfig:
        for name in self.policies:
            if name not in KNOWN_POLICIES:
                raise ValueError(f"generate.policies: unknown policy {name!r}; use {list(KNOWN_POLICIES)} or add it under generate.extra_policies")
        if "base" not in self.policies:
            raise ValueError("generate.policies: must include 'base' (the reference for KL, win-rate and best-of-n)")
        clash = set(self.extra_policies) & set(KNOWN_POLICIES)
        if clash:
            raise ValueError(f"generate.extra_policies: names {sorted(clash)} are reserved; pick other names")
        return self


class EvaluateConfig(_Section):
    best_of_n_max: int = Field(16, ge=1, description="largest n for best-of-n (powers of two up to it)")
    bootstrap_samples: int = Field(1000, ge=10)
    confidence: float = Field(0.95, gt=0, lt=1)


class ReportConfig(_Section):
    n_samples_shown: int = Field(5, ge=0, description="held-out prompts shown with every policy's response")
    figure_dpi: int = Field(110, ge=30, le=600)


class Params(_Section):
    seed: int = Field(0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = Field("auto")
    data: DataConfig = DataConfig()
    policy: PolicyConfig = PolicyConfig()
    annotator: AnnotatorConfig = AnnotatorConfig()
    preferences: PreferencesConfig = PreferencesConfig()
    reward_model: RewardModelConfig = RewardModelConfig()
    ppo: PPOConfig = PPOConfig()
    generate: GenerateConfig = GenerateConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    report: ReportConfig = ReportConfig()

    @model_validator(mode="after")
    def _cross_section(self) -> Params:
        stops = {"preferences": self.preferences.stop_at_eos, "ppo": self.ppo.stop_at_eos, "generate": self.generate.stop_at_eos}
        if len(set(stops.values())) > 1:
            raise ValueError(
                f"ppo.stop_at_eos: {stops} disagree; the reward model must score responses cut the way PPO and generate cut them"
            )
        if self.evaluate.best_of_n_max > self.generate.samples_per_prompt:
            raise ValueError(
                f"evaluate.best_of_n_max: {self.evaluate.best_of_n_max} exceeds generate.samples_per_prompt="
                f"{self.generate.samples_per_prompt}; lower it or sample more"
            )
        return self


def _one_line(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling against params.yaml's documented keys)"
    got = first.get("input")
    shown = "" if isinstance(got, dict) or first["type"] == "missing" else f" (got {got!r})"
    where = f"{loc}: " if loc and not msg.startswith(loc) else ""
    extra = f" [+{len(err.errors()) - 1} more]" if len(err.errors()) > 1 else ""
    return f"{source}: {where}{msg}{shown}{extra}"


def parse_params(raw: dict, source: str = "params.yaml") -> Params:
    try:
        return Params.model_validate(raw or {})
    except ValidationError as err:
        raise ConfigError(_one_line(err, source)) from None


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: not found; run from the repository root")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return parse_params(raw, str(path))

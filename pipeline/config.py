"""Typed, validated parameters.

`params.yaml` loads into the pydantic models below; a key it leaves out takes the default
declared here. Unknown keys, wrong types and out-of-range values fail at load time with one
line naming the key, before any data or model is touched (stages call `load_params()` first).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.errors import ConfigError

PARAMS_FILE = Path("params.yaml")


class _Section(BaseModel):
    # strict: a YAML "1" is not an int, and 3 is not silently a bool; extra: unknown keys fail;
    # allow_inf_nan=False: a YAML .nan/.inf in any float would pass every bound check and poison training.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


# names that become file names (outputs/<name>.jsonl) and report labels: no path separators, dots or markup
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def check_name(name: str, key: str) -> str:
    """`name` if it is a safe identifier, else a ValueError naming `key` (for use inside validators)."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"{key}: name {name!r} is not an identifier (a letter, then up to 63 letters, digits, _ or -); it becomes a file name"
        )
    return name


# ---------------------------------------------------------------- data (stage prepare)
class DataConfig(_Section):
    source: Literal["fortunes", "file", "hub"] = Field(
        "fortunes", description="corpus: the embedded fortune files, a local file, or a hub dataset"
    )
    path: str | None = Field(None, description="local .txt/.jsonl/.parquet file when source=file")
    text_field: str = Field("text", description="column holding the text in jsonl/parquet/hub data")
    hub_dataset: str | None = Field(None, description="hub dataset id when source=hub")
    hub_split: str = Field("train", description="hub split to read")
    fortune_files: list[str] = Field(
        ["fortunes", "limerick", "murphy", "startrek", "zippy"], description="fortune files to use (never the offensive -o ones)"
    )
    val_fraction: float = Field(0.05, gt=0, lt=0.5, description="share of entries held out for validation (perplexity)")
    test_fraction: float = Field(0.05, gt=0, lt=0.5, description="share of entries held out for evaluation prompts")
    min_chars: int = Field(16, ge=1, description="entries shorter than this are dropped")
    prompt_words: int = Field(4, ge=1, le=64, description="a prompt is the first N words of an entry")
    n_eval_prompts: int = Field(64, ge=1, le=100_000, description="held-out evaluation prompts (from the test split)")

    @model_validator(mode="after")
    def _source_needs_location(self) -> DataConfig:
        if self.source == "file" and not self.path:
            raise ValueError("data.path: required when data.source=file (a .txt, .jsonl or .parquet file)")
        if self.source == "hub" and not self.hub_dataset:
            raise ValueError("data.hub_dataset: required when data.source=hub (a dataset id, or use source=file)")
        return self


# ---------------------------------------------------------------- policy (stage base_policy)
class PolicyConfig(_Section):
    base: str = Field(
        "scratch",
        description="'scratch' (pretrain a small GPT-2 here), 'smollm2-135m', a hub name such as 'gpt2', or a local HF directory",
    )
    vocab_size: int = Field(4096, ge=256, le=262_144, description="BPE vocabulary size when training a tokenizer (scratch)")
    n_layer: int = Field(4, ge=1, le=128, description="transformer blocks of a scratch GPT-2")
    n_head: int = Field(4, ge=1, le=256, description="attention heads per block (must divide n_embd)")
    n_embd: int = Field(192, ge=8, le=16_384, description="hidden width of a scratch GPT-2")
    block_size: int = Field(64, ge=16, le=8192, description="context length for pretraining and the model's n_positions")
    batch_size: int = Field(16, ge=1, le=65_536, description="pretraining sequences per optimizer step")
    max_steps: int = Field(1600, ge=1, le=10_000_000, description="pretraining optimizer steps (fixed, not a time limit)")
    lr: float = Field(3e-3, gt=0, le=1, description="pretraining peak learning rate (AdamW, linear warm-up then decay)")
    warmup_steps: int = Field(50, ge=0, description="pretraining learning-rate warm-up steps")
    weight_decay: float = Field(0.01, ge=0, description="pretraining AdamW weight decay")
    eval_batches: int = Field(20, ge=1, le=100_000, description="validation batches for held-out perplexity")
    checkpoint_every: int = Field(200, ge=1, description="save a resumable checkpoint every N steps")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> PolicyConfig:
        if self.n_embd % self.n_head:
            raise ValueError(f"policy.n_embd: {self.n_embd} must be divisible by policy.n_head={self.n_head}")
        return self


# ---------------------------------------------------------------- feedback
class AnnotatorConfig(_Section):
    gold: str = Field(
        "readable_sentiment",
        description="gold scorer: readable_sentiment (default), fluent_sentiment (round 2), vader, formality, or a plug-in 'module:function' (texts -> scores in [-1, 1])",
    )
    tau: float = Field(0.1, gt=0, description="temperature of p(a>b) = sigmoid((g_a - g_b)/tau)")
    epsilon: float = Field(0.25, ge=0, le=1, description="probability a label is replaced by a fair coin")
    ties: Literal["drop", "coin"] = Field("drop", description="pairs with equal gold: drop them, or label by a fair coin")


class PreferencesConfig(_Section):
    source: Literal["simulated", "file", "hub"] = Field(
        "simulated", description="simulated (base samples labelled by the noisy annotator), file (your labels) or hub"
    )
    path: str | None = Field(None, description="jsonl/parquet/csv preference file when source=file")
    hub_dataset: str | None = Field(None, description="hub dataset id when source=hub")
    hub_split: str = Field("train", description="hub split to read")
    n_prompts: int = Field(1000, ge=1, le=10_000_000, description="training prompts to sample continuations for")
    samples_per_prompt: int = Field(8, ge=2, le=64, description="k continuations per prompt; all k*(k-1)/2 pairs are labelled")
    batch_size: int = Field(1024, ge=1, le=65_536, description="continuations sampled per forward batch")
    test_fraction: float = Field(
        0.1, gt=0, lt=1, description="share of prompts (with all their pairs) held out to test the reward model"
    )
    prompts: Literal["pairs", "corpus"] = Field(
        "pairs",
        description="with real labels (source file/hub): the policies optimise and are evaluated on the pairs' prompts (pairs) or the corpus prompts (corpus)",
    )
    on_invalid_row: Literal["drop", "error"] = Field(
        "drop",
        description="with real labels: a row with an empty chosen or rejected response is dropped and counted "
        "(n_empty_dropped in results/preferences/metrics.json; more than 10% of rows still refuses the file) or refuses the file (error)",
    )

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
    epochs: float = Field(
        1.0, gt=0, le=1000, description="passes over the pairs (measured: a 2nd epoch overfits, bench/RESULTS.md)"
    )
    lr: float = Field(1e-3, gt=0, le=1, description="reward-model learning rate")
    lr_scheduler: Literal["constant", "linear", "cosine"] = Field(
        "linear", description="learning-rate schedule over training (HF Trainer's)"
    )
    batch_size: int = Field(
        128, ge=1, le=65_536, description="pairs per step, packed as whole prompt groups (each response scored once per step)"
    )
    max_length: int = Field(64, ge=8, le=8192, description="prompt + response tokens scored (the last ones are kept)")
    weight_decay: float = Field(0.0, ge=0, description="reward-model AdamW weight decay")
    calibration_bins: int = Field(10, ge=2, le=1000, description="bins of the calibration curve and its ECE")


# ---------------------------------------------------------------- sampling, shared by every stage that samples
MIN_TEMPERATURE = 1e-3


class SamplingConfig(_Section):
    """How every policy is sampled: the preference pairs, PPO/RLOO/GRPO rollouts, every evaluation point and generate.

    One section, so the reward model scores responses cut exactly as the policies produce them.
    """

    max_new_tokens: int = Field(24, ge=1, le=4096, description="tokens per sampled response")
    temperature: float = Field(1.0, gt=0, description="sampling temperature (log-probs and KL use the same tempered logits)")
    stop_at_eos: bool = Field(False, description="cut responses at the first EOS (true) or sample fixed-length responses (false)")
    cache: Literal["auto", "dynamic", "static"] = Field(
        "auto",
        description="sampler: dynamic (the project's decoding loop, fastest on CPU), static (transformers' generate with a "
        "preallocated cache, compiled on CUDA, fastest there: bench/RESULTS.md; the same draws) or auto "
        "(static on CUDA, dynamic elsewhere; the stage logs which)",
    )

    @field_validator("temperature")
    @classmethod
    def _temperature_not_tiny(cls, value: float) -> float:
        # logits / 1e-300 overflow to inf and every probability becomes NaN; 0.001 already samples the argmax
        if value < MIN_TEMPERATURE:
            raise ValueError(
                f"sampling.temperature: {value} is below {MIN_TEMPERATURE}, where tempered logits overflow; "
                f"use {MIN_TEMPERATURE} or more ({MIN_TEMPERATURE} is already near-greedy)"
            )
        return value


# ---------------------------------------------------------------- PPO
class PPOConfig(_Section):
    total_updates: int = Field(24, ge=1, le=10_000_000, description="PPO updates (each = one rollout batch)")
    batch_size: int = Field(32, ge=1, le=65_536, description="episodes (prompts) per rollout")
    num_minibatches: int = Field(4, ge=1, description="minibatches each rollout batch is split into per PPO epoch")
    ppo_epochs: int = Field(2, ge=1, le=1000, description="passes over each rollout batch")
    lr: float = Field(
        0.003,
        gt=0,
        le=1,
        description="policy and value learning rate (AdamW; chosen by `make tune` on validation prompts, reports/tuning/)",
    )
    anneal_lr: bool = Field(True, description="decay the learning rate linearly to 0 over total_updates")
    kl_estimator: Literal["k1"] = Field(
        "k1", description="per-token KL estimator in the reward penalty (k1 = log pi - log pi_ref; k3 is refused)"
    )
    adaptive_kl: bool = Field(
        False, description="adapt the KL coefficient towards target_kl (Ziegler et al. 2019) instead of keeping it fixed"
    )
    target_kl: float = Field(6.0, gt=0, description="adaptive KL target (nats per sequence)")
    kl_horizon: int = Field(10000, ge=1, description="adaptive KL controller horizon (episodes)")
    missing_eos_penalty: float | None = Field(
        None,
        description="subtracted from the score of responses with no EOS (needs sampling.stop_at_eos: true); RLOO and GRPO too",
    )
    whiten_rewards: bool = Field(False, description="whiten per-token rewards before GAE")
    gamma: float = Field(1.0, ge=0, le=1, description="discount factor of GAE")
    lam: float = Field(0.95, ge=0, le=1, description="lambda of GAE")
    cliprange: float = Field(0.2, gt=0, description="policy-ratio clip range")
    cliprange_value: float = Field(0.2, gt=0, description="value clip range")
    vf_coef: float = Field(0.1, ge=0, description="weight of the value loss")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient-norm clip")
    eval_every: int = Field(
        3, ge=1, description="held-out evaluation every N updates (plus update 0, the powers of two below N and the last)"
    )
    n_eval_prompts: int = Field(64, ge=1, le=100_000, description="held-out prompts per evaluation point")
    eval_samples_per_prompt: int = Field(
        4, ge=1, le=64, description="samples per prompt at each evaluation point (>= 2 gives across-input diversity a CI)"
    )
    checkpoint_every: int = Field(10, ge=1, description="save a resumable checkpoint every N updates")
    compile_update: Literal["off", "default", "reduce-overhead"] = Field(
        "off",
        description="torch.compile the minibatch loss (policy + value forward, log-probs, losses; the backward follows): "
        "off (eager, what the committed CPU runs used), default (inductor's fused kernels) or reduce-overhead (plus CUDA "
        "graphs on CUDA); the first update pays the compile, and compiled kernels round differently",
    )

    @model_validator(mode="after")
    def _minibatches_divide_batch(self) -> PPOConfig:
        if self.batch_size % self.num_minibatches:
            raise ValueError(f"ppo.batch_size: {self.batch_size} must be divisible by ppo.num_minibatches={self.num_minibatches}")
        return self

    @field_validator("kl_estimator", mode="before")
    @classmethod
    def _no_k3_reward(cls, value):
        # k3 = exp(r) - 1 - r is unbiased for KL's value but not for its gradient as a reward: in a bandit,
        # PPO with it ends at TV distance 0.13 from pi_ref*exp(r/beta) (k1: 0.009)
        if value == "k3":
            raise ValueError("ppo.kl_estimator: k3 as the reward penalty converges to the wrong policy; use k1")
        return value


# ---------------------------------------------------------------- DPO, RLOO, GRPO (TRL's trainers)
class DPOMethodConfig(_Section):
    """Offline DPO on the preference stage's train pairs (the reward model's data); reference = the base policy."""

    max_steps: int = Field(
        24,
        ge=1,
        le=10_000_000,
        description="DPO optimizer steps; 24 x 32 pairs = 768 pairs (1,536 sequences), PPO's 24 updates x 32 episodes x 2 epochs in sequence passes",
    )
    batch_size: int = Field(32, ge=1, le=65_536, description="preference pairs per optimizer step")
    lr: float = Field(
        0.0003, gt=0, le=1, description="AdamW learning rate (chosen by `make tune` on validation prompts, reports/tuning/)"
    )
    lr_scheduler: Literal["constant", "linear", "cosine"] = Field(
        "linear", description="learning-rate schedule over max_steps (HF Trainer's)"
    )
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust"] = Field(
        "sigmoid", description="TRL DPO loss: sigmoid (DPO), ipo, hinge (SLiC), robust (label noise)"
    )
    label_smoothing: float = Field(
        0.0, ge=0, lt=0.5, description="assumed label-flip rate for loss_type robust (the simulated annotator's is epsilon/2)"
    )
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping norm")
    eval_every: int = Field(
        3,
        ge=1,
        description="held-out evaluation every N steps (plus step 0, the powers of two below N and the last); prompts and samples as ppo.n_eval_prompts, ppo.eval_samples_per_prompt",
    )


class OnlineMethodConfig(_Section):
    """Shared by RLOO and GRPO: online, rewarded by the proxy reward model, sampled as the sampling section says."""

    total_updates: int = Field(24, ge=1, le=10_000_000, description="optimizer steps; each samples a fresh batch of completions")
    batch_size: int = Field(
        32,
        ge=2,
        le=65_536,
        description="completions per update; with total_updates as PPO's, the same number of policy samples as each PPO curve",
    )
    num_generations: int = Field(
        4, ge=2, le=256, description="completions per prompt (the group a baseline is taken over); divides batch_size"
    )
    lr: float = Field(1e-4, gt=0, le=1, description="AdamW learning rate (each method sets its own tuned default)")
    lr_scheduler: Literal["constant", "linear", "cosine"] = Field(
        "linear", description="learning-rate schedule over total_updates (linear = PPO's anneal_lr)"
    )
    num_iterations: int = Field(
        1, ge=1, le=64, description="optimisation passes over each sampled batch (mu; > 1 uses the clipped ratio)"
    )
    epsilon: float = Field(0.2, gt=0, le=10, description="clipping range of the importance ratio")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping norm")
    eval_every: int = Field(
        3,
        ge=1,
        description="held-out evaluation every N updates (plus update 0, the powers of two below N and the last); prompts and samples as ppo.n_eval_prompts, ppo.eval_samples_per_prompt",
    )


class RLOOMethodConfig(OnlineMethodConfig):
    """RLOO: REINFORCE with a leave-one-out baseline; the KL to the base (k1, per sequence) is subtracted from the reward, as in PPO."""

    normalize_advantages: bool = Field(False, description="whiten advantages over each batch")
    lr: float = Field(
        0.003, gt=0, le=1, description="AdamW learning rate (chosen by `make tune` on validation prompts, reports/tuning/)"
    )


class GRPOMethodConfig(OnlineMethodConfig):
    """GRPO: group-normalised advantages; the KL to the base (k3, per token) is a loss term weighted by the knob."""

    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = Field("dapo", description="TRL GRPO loss aggregation over tokens")
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group", description="divide advantages by the reward std of the group, the batch, or not at all"
    )
    lr: float = Field(
        0.003, gt=0, le=1, description="AdamW learning rate (chosen by `make tune` on validation prompts, reports/tuning/)"
    )


# ---------------------------------------------------------------- curves: the KL knob of each method
# int before float: a YAML `1` stays the int 1 (strict mode would otherwise make it 1.0), because dvc.yaml's
# `kl${item}` renders the value as YAML read it (str(1) = "1", str(1.0) = "1.0") and curve_dir must name the same folder
Knob = int | float


class CurvesConfig(_Section):
    ppo_kl_coef: list[Knob] = Field(
        [0.01, 0.1],
        min_length=1,
        max_length=16,
        description="one PPO run per beta of the per-token KL penalty (DVC matrix stage ppo@<beta>), each a curve on the frontier",
    )
    dpo_beta: list[Knob] = Field(
        [0.05], max_length=16, description="one DPO run per beta (stage dpo@<beta>, > 0); empty: DPO does not run"
    )
    rloo_kl_coef: list[Knob] = Field(
        [0.03], max_length=16, description="one RLOO run per KL coefficient (stage rloo@<beta>); empty: RLOO does not run"
    )
    grpo_kl_coef: list[Knob] = Field(
        [],
        max_length=16,
        description="one GRPO run per KL coefficient (stage grpo@<beta>); empty: GRPO does not run (profiles/methods.yaml runs it)",
    )

    @model_validator(mode="after")
    def _distinct_finite_values(self) -> CurvesConfig:
        for key in ("ppo_kl_coef", "dpo_beta", "rloo_kl_coef", "grpo_kl_coef"):
            values = getattr(self, key)
            if any(not (v >= 0 and v < float("inf")) for v in values):
                raise ValueError(f"curves.{key}: {values} must be finite and >= 0")
            if len(set(values)) != len(values):
                raise ValueError(f"curves.{key}: {values} repeats a value; each value is one DVC stage")
        if 0 in self.dpo_beta:
            raise ValueError(f"curves.dpo_beta: {self.dpo_beta} holds 0; DPO's beta must be > 0 (it divides the implicit reward)")
        return self


# method -> the curves field holding its KL knob values, in run order
CURVE_KNOBS = {"ppo": "ppo_kl_coef", "dpo": "dpo_beta", "rloo": "rloo_kl_coef", "grpo": "grpo_kl_coef"}


def curve_dir(knob: float) -> str:
    """A curve's folder name under models/<method>/ and results/<method>/, as dvc.yaml's `kl${item.kl_coef}` renders it:
    DVC interpolates str() of the YAML value, so an int knob (as params.yaml holds it, see Knob) gives `kl1`, a float `kl1.0`."""
    return f"kl{knob}"


def curve_name(method: str, knob: float) -> str:
    """A curve's policy name, safe as a file name and a metrics key (no dots): ('ppo', 0.03) -> 'ppo_kl0p03'."""
    return f"{method}_{curve_dir(knob)}".replace(".", "p").replace("-", "m").replace("+", "")


def gold_available(params: Params) -> bool:
    """Simulated labels come with a gold scorer; a user's or the hub's real labels have none."""
    return params.preferences.source == "simulated"


def curve_model_dir(method: str, knob: float) -> Path:
    return Path("models") / method / curve_dir(knob)


def curve_results_dir(method: str, knob: float) -> Path:
    """Every curve's results live under results/curves/, so evaluate and report depend on one folder whichever methods run."""
    return Path("results/curves") / method / curve_dir(knob)


def rl_curves(params: Params) -> list[tuple[str, float]]:
    """(method, KL knob) of every RL curve the params ask for, in run order."""
    return [(method, knob) for method, key in CURVE_KNOBS.items() for knob in getattr(params.curves, key)]


def reserved_policy_names(params: Params) -> set[str]:
    """Names the pipeline itself gives policies and curves (outputs/<name>.jsonl, metrics keys, report rows): an extra
    policy named like one would replace its samples and its row in the report."""
    return {"base", "best_of_n", *KNOWN_POLICIES, *(curve_name(m, k) for m, k in rl_curves(params))}


def policy_sources(params: Params) -> dict[str, Path]:
    """Every policy the generate and evaluate stages handle, name -> model folder: base, one per RL curve, extras."""
    cfg, dirs = params.generate, {"base": Path("models/base")}
    dirs |= {curve_name(m, k): curve_model_dir(m, k) for m, k in rl_curves(params) if m in cfg.policies}
    # validation refuses such names already (Params._extra_policy_names); this guards params built without it
    if clash := sorted(set(cfg.extra_policies) & reserved_policy_names(params)):
        raise ConfigError(f"generate.extra_policies: {clash} would replace the pipeline's own policies; rename them")
    return dirs | {name: Path(path) for name, path in cfg.extra_policies.items()}


# ---------------------------------------------------------------- generate / evaluate / report
KNOWN_POLICIES = ("base", "ppo", "dpo", "rloo", "grpo")


class GenerateConfig(_Section):
    policies: list[str] = Field(
        ["base", "ppo", "dpo", "rloo", "grpo"],
        description="built-in policies to sample: base, and every curve of ppo, dpo, rloo, grpo (a method with an empty curves list has none)",
    )
    extra_policies: dict[str, str] = Field({}, description="name -> local HF directory of another policy")
    samples_per_prompt: int = Field(16, ge=1, le=4096, description="k samples per held-out prompt and policy (the metrics' k)")
    base_samples_per_prompt: int = Field(
        64, ge=1, le=4096, description="samples per held-out prompt from the base policy: the pool best-of-n draws from"
    )
    batch_size: int = Field(256, ge=1, le=65_536, description="samples per forward batch")

    @model_validator(mode="after")
    def _known_policies(self) -> GenerateConfig:
        for name in self.policies:
            if name not in KNOWN_POLICIES:
                raise ValueError(
                    f"generate.policies: unknown policy {name!r}; use {list(KNOWN_POLICIES)} or add it under generate.extra_policies"
                )
        if "base" not in self.policies:
            raise ValueError("generate.policies: must include 'base' (the reference for KL, win-rate and best-of-n)")
        for name in self.extra_policies:
            check_name(name, "generate.extra_policies")
        return self


class MetricPluginConfig(_Section):
    """A metric the evaluate stage imports by `module:function` (metrics/registry.py says what fn receives per level)."""

    fn: str = Field(pattern=r"^[\w.]+:\w+$", description="'module:function', importable from the repository root or installed")
    level: Literal["item", "prompt", "set"] = Field(
        "item", description="what fn receives: one sample, one prompt's samples, or all"
    )
    higher_is_better: bool = Field(True, description="the metric's direction (the report reads it)")
    headline: bool = Field(False, description="also put its mean for every policy into results/summary.json (the DVC metrics)")
    description: str = Field("", description="one line for results/metric_info.json; default: fn's docstring")


class EvaluateConfig(_Section):
    best_of_n_max: int = Field(
        64,
        ge=1,
        le=4096,
        description="largest n for best-of-n (powers of two up to it), estimated over all n-subsets of the base samples",
    )
    bootstrap_samples: int = Field(
        1000, ge=10, le=100_000, description="bootstrap resamples (of prompts) per confidence interval"
    )  # 1e7 took > 5 GB
    confidence: float = Field(0.95, gt=0, lt=1, description="confidence level of every interval")
    metrics: dict[str, MetricPluginConfig] = Field(
        {},
        description="plug-in metrics, name -> {fn: 'module:function', level, higher_is_better, headline}: evaluated on every "
        "policy like the built-ins; headline ones also go to results/summary.json (README: Adding a metric)",
    )

    @field_validator("metrics")
    @classmethod
    def _metric_names(cls, value: dict[str, MetricPluginConfig]) -> dict[str, MetricPluginConfig]:
        for name in value:  # a metric's name becomes a key of the metrics files and a report column
            check_name(name, "evaluate.metrics")
        return value


class ReportConfig(_Section):
    n_samples_shown: int = Field(5, ge=0, le=1000, description="held-out prompts shown with every policy's response")
    figure_dpi: int = Field(110, ge=30, le=600, description="resolution of the report's figures")


class Params(_Section):
    seed: int = Field(
        0, ge=0, le=2**31 - 1, description="seeds every stage (each random stream derives its own seed from it)"
    )  # < 2**32 for numpy
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto (CUDA when present) | cpu | cuda")
    data: DataConfig = DataConfig()
    policy: PolicyConfig = PolicyConfig()
    annotator: AnnotatorConfig = AnnotatorConfig()
    preferences: PreferencesConfig = PreferencesConfig()
    reward_model: RewardModelConfig = RewardModelConfig()
    sampling: SamplingConfig = SamplingConfig()
    ppo: PPOConfig = PPOConfig()
    dpo: DPOMethodConfig = DPOMethodConfig()
    rloo: RLOOMethodConfig = RLOOMethodConfig()
    grpo: GRPOMethodConfig = GRPOMethodConfig()
    curves: CurvesConfig = CurvesConfig()
    generate: GenerateConfig = GenerateConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    report: ReportConfig = ReportConfig()

    @model_validator(mode="after")
    def _cross_section(self) -> Params:
        if self.ppo.missing_eos_penalty is not None and not self.sampling.stop_at_eos:
            raise ValueError(
                "ppo.missing_eos_penalty: with sampling.stop_at_eos=false no response is cut at EOS, so every one would be "
                "penalised; set sampling.stop_at_eos: true or ppo.missing_eos_penalty: null"
            )
        if self.evaluate.best_of_n_max > self.generate.base_samples_per_prompt:
            raise ValueError(
                f"evaluate.best_of_n_max: {self.evaluate.best_of_n_max} exceeds generate.base_samples_per_prompt="
                f"{self.generate.base_samples_per_prompt}; lower it or sample more"
            )
        if self.generate.base_samples_per_prompt < self.generate.samples_per_prompt:
            raise ValueError(
                f"generate.base_samples_per_prompt: {self.generate.base_samples_per_prompt} is below generate.samples_per_prompt="
                f"{self.generate.samples_per_prompt}; the base needs at least as many samples as every policy"
            )
        self._groups_divide_batches()
        self._extra_policy_names()
        if self.policy.base == "scratch":
            self._fits_scratch_context()
            self._fits_memory()
        return self

    def _groups_divide_batches(self) -> None:
        """RLOO/GRPO batches hold whole prompt groups (checked here, where the message can name the section)."""
        for key in ("rloo", "grpo"):
            online = getattr(self, key)
            if online.batch_size % online.num_generations:
                raise ValueError(
                    f"{key}.batch_size: {online.batch_size} must be divisible by {key}.num_generations={online.num_generations}"
                )

    def _extra_policy_names(self) -> None:
        """An extra policy may not take a name the pipeline gives a policy or curve (it would overwrite that curve's samples)."""
        if clash := sorted(set(self.generate.extra_policies) & reserved_policy_names(self)):
            raise ValueError(
                f"generate.extra_policies: {clash} are names of the pipeline's own policies or curves "
                f"(base, best_of_n, method names, <method>_kl<knob>); rename them"
            )

    def _fits_memory(self) -> None:
        """A scratch model too large for this machine is refused here, before base_policy deletes models/base and the
        allocator or the kernel's OOM killer stops it minutes later (a pretrained base's size is known only on load)."""
        need, have = training_memory_bytes(self), machine_memory_bytes()
        if have and need > have:
            cfg = self.policy
            raise ValueError(
                f"policy: a scratch GPT-2 with n_layer={cfg.n_layer}, n_embd={cfg.n_embd}, vocab_size={cfg.vocab_size} "
                f"({scratch_parameter_count(cfg) / 1e6:,.1f} M parameters) needs about {need / 2**30:,.1f} GiB to train "
                f"(weights, AdamW states, activations), more than this machine's {have / 2**30:,.1f} GiB of memory; "
                "lower policy.n_layer, policy.n_embd or the batch sizes"
            )

    def _fits_scratch_context(self) -> None:
        """A scratch model has policy.block_size positions: every prompt + response must fit (pretrained bases are checked on load)."""
        positions = self.policy.block_size
        if (n := self.sampling.max_new_tokens) >= positions:
            raise ValueError(
                f"sampling.max_new_tokens: {n} new tokens leave no room for a prompt in policy.block_size={positions} positions; "
                "lower it or raise block_size"
            )
        if self.reward_model.backbone == "base" and self.reward_model.max_length > positions:
            raise ValueError(
                f"reward_model.max_length: {self.reward_model.max_length} exceeds policy.block_size={positions}, the reward model's positions; lower it"
            )


# Names users bring from TRL / HF TrainingArguments (and `dvc exp run -S ppo.kl_coef=...`), each with the candidate
# project keys in order: "{section}" is the section the unknown key sat in, so `dpo.learning_rate` points to `dpo.lr`
FOREIGN_KEYS: dict[str, tuple[str, ...]] = {
    "kl_coef": ("curves.{section}_kl_coef", "curves.ppo_kl_coef"),
    "init_kl_coef": ("curves.ppo_kl_coef",),
    "beta": ("curves.{section}_beta", "curves.{section}_kl_coef", "curves.dpo_beta"),
    "kl_coefs": ("curves.ppo_kl_coef",),
    "learning_rate": ("{section}.lr",),
    "lr_scheduler_type": ("{section}.lr_scheduler",),
    "num_train_epochs": ("{section}.epochs", "{section}.total_updates", "{section}.max_steps"),
    "num_ppo_epochs": ("ppo.ppo_epochs",),
    "max_steps": ("{section}.max_steps", "{section}.total_updates"),
    "total_episodes": ("{section}.total_updates",),
    "per_device_train_batch_size": ("{section}.batch_size",),
    "train_batch_size": ("{section}.batch_size",),
    "mini_batch_size": ("ppo.num_minibatches",),
    "gradient_accumulation_steps": ("{section}.batch_size",),
    "response_length": ("sampling.max_new_tokens",),
    "max_new_tokens": ("sampling.max_new_tokens",),
    "max_completion_length": ("sampling.max_new_tokens",),
    "temperature": ("sampling.temperature",),
    "seed": ("seed",),
    "warmup_steps": ("policy.warmup_steps",),
    "num_sample_generations": ("{section}.eval_every",),
    "eval_steps": ("{section}.eval_every",),
    "save_steps": ("{section}.checkpoint_every",),
    "num_generations": ("{section}.num_generations",),
    "cliprange": ("ppo.cliprange", "{section}.epsilon"),
    "epsilon": ("{section}.epsilon",),
}


def _key_exists(key: str) -> bool:
    model: type[BaseModel] = Params
    for part in key.split("."):
        field = model.model_fields.get(part)
        if field is None:
            return False
        model = field.annotation
        if not hasattr(model, "model_fields"):
            return part == key.split(".")[-1]
    return True


def foreign_key_hint(loc: tuple) -> str | None:
    """The project key a TRL-style name (ppo.kl_coef, dpo.learning_rate, ...) stands for, if there is one."""
    name, section = str(loc[-1]), str(loc[0]) if len(loc) > 1 else ""
    for candidate in FOREIGN_KEYS.get(name, ()):
        if "{section}" in candidate and not section:
            continue
        key = candidate.format(section=section)
        if _key_exists(key) and key != ".".join(map(str, loc)):
            return key
    return None


def scratch_parameter_count(cfg: PolicyConfig) -> int:
    """GPT-2's parameter count: token and position embeddings (the output layer is tied), and per block two layer
    norms (4d), attention (4d^2 + 4d) and the MLP (8d^2 + 5d); then the final layer norm."""
    d = cfg.n_embd
    return (cfg.vocab_size + cfg.block_size) * d + cfg.n_layer * (12 * d * d + 13 * d) + 2 * d


def _activation_bytes(cfg: PolicyConfig, batch: int) -> int:
    """Activations kept for the backward pass of `batch` full-length sequences: Korthikanti et al. (2022)'s
    s*b*h*(34 + 5*a*s/h) bytes per block (a 16-bit count, so a floor for fp32), plus logits and their gradient."""
    s, d = cfg.block_size, cfg.n_embd
    per_block = s * batch * d * (34 + 5 * cfg.n_head * s / d)
    return int(cfg.n_layer * per_block + 2 * 4 * batch * s * cfg.vocab_size)


def training_memory_bytes(params: Params) -> int:
    """A rough floor on the peak memory of training a scratch policy: pretraining (fp32 weights, gradients and AdamW's two
    moments: 16 bytes per parameter) or PPO (policy and value model trained, reference and reward model frozen: 40 bytes
    per parameter, and two models' activations per minibatch), whichever is larger."""
    cfg, n = params.policy, scratch_parameter_count(params.policy)
    pretrain = 16 * n + _activation_bytes(cfg, cfg.batch_size)
    ppo = 40 * n + 2 * _activation_bytes(cfg, params.ppo.batch_size // params.ppo.num_minibatches)
    return max(pretrain, ppo)


def machine_memory_bytes() -> int | None:
    """This machine's physical memory, or None where the OS does not say (then the size guard is skipped)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _one_line(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling; `python -m pipeline.profiles default --all --out -` lists every key)"
        if hint := foreign_key_hint(first["loc"]):
            msg = (
                f"unknown key; this project's key is {hint} (`python -m pipeline.profiles default --all --out -` lists every key)"
            )
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


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load keeps the last of two equal keys silently (a second `ppo:` section replaces the first); DVC's
    YAML reader refuses them, so a direct `python -m stages.<name>` run must refuse them too."""

    def construct_mapping(self, node, deep=False):
        first: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in first:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} at line {line} (first at line {first[key]}); keep one",
                    key_node.start_mark,
                )
            first[key] = line
        return super().construct_mapping(node, deep)


def read_yaml(text: str):
    """YAML with duplicate keys refused (UniqueKeyLoader); a yaml.YAMLError otherwise, as yaml.safe_load."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: not found; run from the repository root")
    try:
        raw = read_yaml(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if raw is None:
        # an empty file would silently run the full default profile
        raise ConfigError(f"{path}: empty; write one with `python -m pipeline.profiles default` (or another profile)")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return parse_params(raw, str(path))

"""DPO, RLOO and GRPO through TRL's trainers, on the same data, reward, reference and evaluation as PPO.

TRL does the training; this module builds its datasets and configs, scores completions with the
pipeline's proxy reward model exactly as PPO does, and evaluates held-out points with the same
`rl.ppo_eval.evaluate_point` that draws PPO's curves. Three small adaptations keep the
methods comparable to PPO:
  * DPO trains on the preference pairs' own token ids (TRL would re-tokenize their text, which need
    not give the sampled ids back, and append an EOS the fixed-length responses never had);
  * with stop_at_eos false, RLOO/GRPO sample fixed-length responses that run past an EOS, as PPO's;
  * left-padded prompts get positions counted over real tokens, as in PPO (GPT-2's learned
    positions would otherwise shift by the padding in TRL's log-prob forward passes).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import datasets
import pandas as pd
import torch
from transformers import TrainerCallback
from trl import DPOConfig, DPOTrainer, GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

from metrics.reward_model import gold_accuracy, pairwise_accuracy
from pipeline.errors import ConfigError
from pipeline.generation import (
    Batch,
    context_positions,
    fit_prompt,
    fit_prompt_ids,
    fit_sequence,
    left_pad,
    position_ids,
    response_logprobs,
    shared_positions,
)
from pipeline.io import log, manifest, read_jsonl, write_csv, write_json, write_jsonl
from pipeline.models import autocast_dtype, quiet_trainer_logs, save_model_with_manifest
from pipeline.reward import score_token_lists
from rl.ppo_eval import evaluate_point, is_eval_step

NO_EOS = -1  # an id no token has: TRL's cut after the first EOS never fires (fixed-length responses)


# ---------------------------------------------------------------- shared pieces
def mask_positions(model) -> None:
    """Positions from the attention mask when a caller passes none (TRL's log-prob passes on left-padded prompts)."""
    inner = model.base_model
    forward = inner.forward

    def patched(*args, **kwargs):
        ids, mask = kwargs.get("input_ids", args[0] if args else None), kwargs.get("attention_mask")
        if kwargs.get("position_ids") is None and ids is not None and mask is not None and mask.dim() == 2:
            kwargs["position_ids"] = position_ids(mask)[:, -ids.shape[1] :]
        return forward(*args, **kwargs)

    inner.forward = patched


TRL_OUTPUT_DIR = (
    "checkpoints/trl"  # never written (no checkpoints, no trackers); a fixed name keeps live/params.yaml byte-identical
)


def trainer_args(cls, cfg, *, seed: int, device, max_steps: int, **extra):
    """A TRL config: fixed steps, logs every step, no checkpoints or trackers, dropout off, bf16 only on capable GPUs."""
    return cls(
        output_dir=TRL_OUTPUT_DIR,
        max_steps=max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=1,
        learning_rate=cfg.lr,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=0,
        max_grad_norm=cfg.max_grad_norm,
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        seed=seed,
        data_seed=seed,
        use_cpu=device.type == "cpu",
        bf16=autocast_dtype(device) is not None,
        report_to=[],
        activation_checkpointing=False,
        disable_dropout=True,
        dataloader_num_workers=0,
        **extra,
    )


class CurveEval(TrainerCallback):
    """Held-out points (gold, proxy, KL, diversity with CIs) at the steps `is_eval_step` names, via evaluate_point.

    The points go to eval.csv (not DVCLive, whose steps count TRL's log events, not optimizer updates).

    `bind(trainer, ...)` gives it what evaluate_point reads from a PPO trainer: the policy, the
    accelerator, the sampling settings, the reference policy and the proxy reward model.
    """

    def __init__(self, tokenizer, prompts: list[dict], gold_fn, *, seed: int, every: int, samples_per_prompt: int):
        self.tokenizer, self.prompts, self.gold_fn = tokenizer, prompts, gold_fn
        self.seed, self.every, self.samples_per_prompt = seed, every, samples_per_prompt
        self.rows: list[dict] = []
        self.samples: list[dict] = []

    def bind(self, trainer, sampling, ref_policy, reward_model, reward_norm: dict) -> CurveEval:
        self.trainer = trainer
        self.target = SimpleNamespace(
            acc=trainer.accelerator, sampling=sampling, ref_policy=ref_policy, reward_model=reward_model, reward_norm=reward_norm
        )
        return self

    def measure(self, step: int) -> None:
        policy = self.trainer.accelerator.unwrap_model(self.trainer.model)
        was_training = policy.training
        target = SimpleNamespace(**vars(self.target), unwrapped=SimpleNamespace(policy=policy))
        stats, samples = evaluate_point(
            target,
            self.tokenizer,
            self.prompts,
            self.gold_fn,
            seed=self.seed,
            samples_per_prompt=self.samples_per_prompt,
            untrained=step == 0,
        )
        policy.train(was_training)
        self.rows.append({"update": step} | {k.removeprefix("eval/"): v for k, v in stats.items()})
        self.samples.extend({"update": step} | s for s in samples)

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.measure(0)

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        if state.is_world_process_zero and is_eval_step(step, self.every, state.max_steps):
            self.measure(step)


# ---------------------------------------------------------------- DPO (offline)
def fit_pairs(pairs: list[dict], positions: int | None) -> list[dict]:
    """Pairs whose prompt + longer response fits the policy's positions: prompts cut by `fit_prompt` (as every
    other path cuts them), pairs whose response alone fills the context left out (DPO needs a prompt token)."""
    if positions is None:
        return pairs
    out = []
    for pair in pairs:
        longer = max(len(pair["chosen_ids"]), len(pair["rejected_ids"]))
        if longer < positions:
            out.append(pair | {"prompt_ids": fit_prompt(pair["prompt_ids"], longer, positions)})
    if len(out) < len(pairs):
        log.warning(
            "dpo: left out %d of %d preference pairs whose chosen or rejected response alone fills the policy's %d positions",
            len(pairs) - len(out),
            len(pairs),
            positions,
        )
    return out


def dpo_dataset(pairs: list[dict]) -> datasets.Dataset:
    """The preference pairs' own token ids: exactly the sequences the reward model learned from."""
    return datasets.Dataset.from_dict({k: [p[k] for p in pairs] for k in ("prompt_ids", "chosen_ids", "rejected_ids")})


class TokenizedDPOTrainer(DPOTrainer):
    """TRL's DPOTrainer on a dataset that is already token ids (TRL's own preparation is for text)."""

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        if "prompt_ids" in dataset.column_names:
            return dataset
        return super()._prepare_dataset(dataset, processing_class, args, dataset_name)


def dpo_trainer(
    policy, ref_policy, tokenizer, pairs: list[dict], cfg, beta: float, *, seed: int, device, callbacks
) -> DPOTrainer:
    args = trainer_args(
        DPOConfig,
        cfg,
        seed=seed,
        device=device,
        max_steps=cfg.max_steps,
        beta=beta,
        loss_type=[cfg.loss_type],
        label_smoothing=cfg.label_smoothing,
        max_length=None,
        precompute_ref_log_probs=False,
    )
    trainer = TokenizedDPOTrainer(
        model=policy,
        ref_model=ref_policy,
        args=args,
        train_dataset=dpo_dataset(pairs),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    return quiet_trainer_logs(trainer)


@torch.no_grad()
def sequence_logprobs(
    model, prompt_ids: list[list[int]], response_ids: list[list[int]], pad_id: int, device, batch_size: int = 256
) -> list[float]:
    """log pi(response | prompt) summed over response tokens, left-padded prompts, right-padded responses."""
    out = []
    for start in range(0, len(prompt_ids), batch_size):
        q_ids, q_mask = left_pad(prompt_ids[start : start + batch_size], pad_id)
        responses = response_ids[start : start + batch_size]
        width = max(len(r) for r in responses)
        r_ids = torch.tensor([r + [pad_id] * (width - len(r)) for r in responses])
        r_mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in responses])
        batch = Batch(q_ids.to(device), q_mask.to(device), r_ids.to(device), r_mask.to(device))
        out.extend(response_logprobs(model, batch, 1.0).sum(1).tolist())
    return out


def implicit_rewards(policy, ref_policy, pairs: list[dict], beta: float, pad_id: int, device) -> tuple[list[float], list[float]]:
    """DPO's implicit reward beta * log(pi / pi_ref) of each pair's chosen and rejected response.

    Each distinct (prompt, response) is scored once: k samples per prompt make k(k-1)/2 pairs of only k responses.
    """
    sides = [[(tuple(p["prompt_ids"]), tuple(p[key])) for p in pairs] for key in ("chosen_ids", "rejected_ids")]
    unique = list(dict.fromkeys(sides[0] + sides[1]))
    prompts, responses = [list(q) for q, _ in unique], [list(r) for _, r in unique]
    logp = sequence_logprobs(policy, prompts, responses, pad_id, device)
    ref = sequence_logprobs(ref_policy, prompts, responses, pad_id, device)
    reward = {key: beta * (a - b) for key, a, b in zip(unique, logp, ref, strict=True)}
    return [reward[k] for k in sides[0]], [reward[k] for k in sides[1]]


def implicit_reward_accuracy(policy, ref_policy, pairs: list[dict], beta: float, pad_id: int, device) -> dict:
    """DPO's implicit reward as a reward model on held-out pairs: accuracy vs the labels and vs the gold order."""
    chosen, rejected = implicit_rewards(policy.eval(), ref_policy.eval(), pairs, beta, pad_id, device)
    out = {"implicit_reward_accuracy": pairwise_accuracy(chosen, rejected), "n_pairs": len(pairs)}
    if pairs and "gold_chosen" in pairs[0]:
        out["implicit_reward_accuracy_gold"] = gold_accuracy(
            chosen, rejected, [p["gold_chosen"] for p in pairs], [p["gold_rejected"] for p in pairs]
        )
    return out


# ---------------------------------------------------------------- RLOO / GRPO (online)
@dataclass
class ProxyReward:
    """TRL reward function: the proxy reward model on prompt + completion ids, normalised as PPO normalises it."""

    model: torch.nn.Module
    tokenizer: object
    norm: dict
    device: torch.device
    missing_eos_penalty: float | None = None
    new_tokens: int = 0  # sampling.max_new_tokens: prompts are fitted for it, as `FittedPrompts` fits the policy's
    episodes: int = 0  # completions scored: the policy samples the run consumed
    __name__ = "proxy_reward"  # TRL names its reward curves rewards/<name>/mean

    def __call__(self, prompts: list[str], completion_ids: list[list[int]], **_) -> list[float]:
        prompt_ids = self.tokenizer(text=prompts)["input_ids"]  # exactly as TRL tokenised them for the policy
        positions = context_positions(self.model)
        sequences = [fit_sequence(p, c, positions, self.new_tokens) for p, c in zip(prompt_ids, completion_ids, strict=True)]
        raw = score_token_lists(self.model, sequences, self.tokenizer.pad_token_id, 256, self.device)
        scores = [(r - self.norm["mean"]) / self.norm["std"] for r in raw]
        if self.missing_eos_penalty is not None:
            eos = self.tokenizer.eos_token_id
            scores = [s - self.missing_eos_penalty * (not c or c[-1] != eos) for s, c in zip(scores, completion_ids, strict=True)]
        self.episodes += len(scores)
        return scores


def prompt_dataset(prompts: list[dict]) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"prompt": [p["prompt"] for p in prompts]})


class FittedPrompts:
    """TRL's RLOO/GRPO tokenize whole prompts; this cuts them by `fit_prompt` for max_completion_length new tokens,
    as every other path does, so a prompt longer than the context cannot crash the position embeddings.
    `fit_positions` (the policy's and reference's context) is set by `online_trainer`."""

    fit_positions: int | None = None

    def _tokenize_prompts(self, prompts: list):
        prompt_ids, images, multimodal_fields = super()._tokenize_prompts(prompts)
        new_tokens = self.args.max_completion_length
        return [fit_prompt(p, new_tokens, self.fit_positions) for p in prompt_ids], images, multimodal_fields


class FittedRLOOTrainer(FittedPrompts, RLOOTrainer):
    pass


class FittedGRPOTrainer(FittedPrompts, GRPOTrainer):
    pass


ONLINE = {"rloo": (RLOOConfig, FittedRLOOTrainer), "grpo": (GRPOConfig, FittedGRPOTrainer)}


def online_args(method: str, cfg, sampling, beta: float, *, seed: int, device):
    """RLOO/GRPO config: the sampling section's response length, temperature and EOS handling, full-distribution sampling."""
    extra = (
        {"normalize_advantages": cfg.normalize_advantages}
        if method == "rloo"
        else {"loss_type": cfg.loss_type, "scale_rewards": cfg.scale_rewards}
    )
    return trainer_args(
        ONLINE[method][0],
        cfg,
        seed=seed,
        device=device,
        max_steps=cfg.total_updates,
        beta=beta,
        num_generations=cfg.num_generations,
        num_iterations=cfg.num_iterations,
        epsilon=cfg.epsilon,
        max_completion_length=sampling.max_new_tokens,
        temperature=sampling.temperature,
        top_p=1.0,
        top_k=0,
        generation_kwargs=None if sampling.stop_at_eos else {"eos_token_id": None},
        shuffle_dataset=True,
        **extra,
    )


def online_trainer(
    method: str,
    policy,
    tokenizer,
    prompts: list[dict],
    reward: ProxyReward,
    cfg,
    sampling,
    beta: float,
    *,
    seed: int,
    device,
    callbacks,
):
    """TRL's RLOO or GRPO trainer on the train prompts; its reference is the policy's own starting weights (models/base)."""
    args = online_args(method, cfg, sampling, beta, seed=seed, device=device)
    trainer = ONLINE[method][1](
        model=policy,
        reward_funcs=reward,
        args=args,
        train_dataset=prompt_dataset(prompts),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    quiet_trainer_logs(trainer)
    trainer.fit_positions = shared_positions(policy, trainer.ref_model)
    # the cut itself happens per batch; this checks the room and logs once how many prompts it cuts
    fit_prompt_ids(
        tokenizer([p["prompt"] for p in prompts])["input_ids"],
        trainer.fit_positions,
        sampling.max_new_tokens,
        "sampling.max_new_tokens",
    )
    if not sampling.stop_at_eos:
        trainer.eos_token_ids = [NO_EOS]
    for model in (trainer.model, trainer.ref_model):
        if model is not None:
            mask_positions(model)
    return trainer


# ---------------------------------------------------------------- stage plumbing
def last_logged(trainer, *keys: str) -> dict:
    """The last value TRL logged for each key (absent keys are left out)."""
    out = {}
    for row in trainer.state.log_history:
        out |= {k: row[k] for k in keys if k in row}
    return out


def save_policy(policy, tokenizer, model_dir, config: dict, seed: int, device, stage: str) -> None:
    """The trained policy (safetensors) with its manifest: the run's only saved artefact (TRL's empty output_dir goes)."""
    save_model_with_manifest(policy.cpu(), tokenizer, model_dir, manifest(config, seed, str(device), stage=stage))
    with contextlib.suppress(OSError):  # not empty (another run's files): leave it
        Path(TRL_OUTPUT_DIR).rmdir()


def write_curve(results_dir, evaluator: CurveEval, summary: dict, timings: dict) -> None:
    """A curve's results as PPO writes them: eval.csv, eval_samples.jsonl, metrics.json, timing.json (live/ is written during training)."""
    write_csv(results_dir / "eval.csv", pd.DataFrame(evaluator.rows))
    write_jsonl(results_dir / "eval_samples.jsonl", evaluator.samples)
    write_json(results_dir / "metrics.json", summary)
    write_json(results_dir / "timing.json", timings)


def fitted_pairs(prefs: Path, split: str, positions: int | None) -> list[dict]:
    """<prefs>/<split>.jsonl cut to the policy's positions by `fit_pairs`; none left is one line with the reason."""
    what = "training" if split == "train" else "held-out"
    pairs = read_jsonl(prefs / f"{split}.jsonl")
    if not pairs:
        raise ConfigError(f"{prefs}: no {what} pairs; rerun `dvc repro preferences`")
    fitted = fit_pairs(pairs, positions)
    if not fitted:
        raise ConfigError(
            f"{prefs}: no {what} pair has a response shorter than the policy's {positions} positions (DPO needs a prompt "
            "token before it); use a base with more positions (policy.block_size for a scratch base) or shorter responses"
        )
    return fitted

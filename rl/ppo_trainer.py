"""The PPO loop for RLHF: rollout -> rewards -> advantages -> clipped updates.

Written out (CleanRL style) on transformers + accelerate because TRL removed its PPOTrainer.
Every random draw is seeded by (seed, update), so a run resumed from a checkpoint follows
the same trajectory as an uninterrupted one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from pipeline.config import PPOConfig, SamplingConfig
from pipeline.errors import ConfigError
from pipeline.generation import (
    Batch,
    fit_prompt_ids,
    left_pad,
    position_ids,
    response_logprobs,
    row_noise,
    sample,
    shared_positions,
    token_logprobs,
)
from pipeline.reward import backbone, score_sequences
from pipeline.seeds import derive_seed
from rl.ppo import (
    AdaptiveKLController,
    FixedKLController,
    check_finite,
    entropy_from_logits,
    gae,
    kl_per_token,
    masked_mean,
    masked_whiten,
    policy_loss,
    token_rewards,
    value_loss,
)


class PolicyAndValue(nn.Module):
    """One module for the trained pair, so DDP sees a single forward (as TRL's wrapper did)."""

    def __init__(self, policy: nn.Module, value_model: nn.Module):
        super().__init__()
        self.policy, self.value_model = policy, value_model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pos = position_ids(attention_mask)
        logits = self.policy(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos, use_cache=False).logits
        hidden = backbone(self.value_model)(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos, use_cache=False)
        values = self.value_model.score(hidden.last_hidden_state).squeeze(-1)
        return logits, values  # (B, T, V), (B, T)


def response_slice(x: torch.Tensor, query_len: int) -> torch.Tensor:
    """Positions whose outputs predict the response tokens (shift by one)."""
    return x[:, query_len - 1 : -1]


@dataclass
class Rollout:
    batch: Batch
    logprobs: torch.Tensor
    ref_logprobs: torch.Tensor
    values: torch.Tensor
    scores: torch.Tensor  # normalised, penalised reward-model scores (B,)
    raw_scores: torch.Tensor


@dataclass
class PPOState:
    """What a checkpoint must hold to resume exactly."""

    update: int = 0
    kl_coef: float = 0.0
    episode: int = 0
    history: list = field(default_factory=list)
    eval_samples: list = field(default_factory=list)  # scored held-out samples of every evaluation point


class PPOTrainer:
    def __init__(
        self,
        cfg: PPOConfig,
        accelerator,
        policy,
        ref_policy,
        value_model,
        reward_model,
        tokenizer,
        reward_norm: dict,
        seed: int,
        *,
        kl_coef: float,
        sampling: SamplingConfig,
        fused_adamw: bool | None = None,
    ):
        self.cfg, self.acc, self.tok, self.seed = cfg, accelerator, tokenizer, seed
        self.sampling = sampling
        # every rollout pads its prompts to one width: a row's logits then do not depend on its batch-mates' prompt
        # lengths (as in generate_samples), and a static KV cache (compiled on CUDA) keeps one shape. train() sets it
        # from the whole prompt set; a caller of step() may set it too
        self.prompt_width: int | None = None
        self.model = PolicyAndValue(policy, value_model)
        # fused AdamW (one kernel for every parameter) on CUDA, where transformers' Trainer and TRL default to it; None
        # leaves torch's default (a loop over tensors on CPU), which the committed CPU runs were made with and which
        # rounds differently. fused_adamw=True/False forces either (the throughput bench times both).
        fused = accelerator.device.type == "cuda" if fused_adamw is None else fused_adamw
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, eps=1e-5, fused=True if fused else None)
        self.model, self.optimizer = accelerator.prepare(self.model, self.optimizer)
        # the update's forward + loss is most of a GPU update's kernels (launch-bound at small minibatches); compiling it
        # fuses them and, with reduce-overhead, replays them as CUDA graphs. Off by default: it rounds differently.
        self.compile_mode = None if cfg.compile_update == "off" else cfg.compile_update
        self.minibatch_loss = (
            self._minibatch_loss if self.compile_mode is None else torch.compile(self._minibatch_loss, mode=self.compile_mode)
        )
        self.ref_policy = ref_policy.to(accelerator.device).eval()
        self.reward_model = reward_model.to(accelerator.device).eval()
        self.reward_norm = reward_norm
        kl = AdaptiveKLController(kl_coef, cfg.target_kl, cfg.kl_horizon) if cfg.adaptive_kl else FixedKLController(kl_coef)
        self.kl_ctl, self.state = kl, PPOState(kl_coef=kl_coef)

    @property
    def unwrapped(self) -> PolicyAndValue:
        return self.acc.unwrap_model(self.model)

    # ------------------------------------------------------------ rollout
    @torch.no_grad()
    def score(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        raw = score_sequences(self.reward_model, batch.input_ids, batch.attention_mask)
        scores = (raw - self.reward_norm["mean"]) / self.reward_norm["std"]
        if self.cfg.missing_eos_penalty is not None:
            scores = scores - self.cfg.missing_eos_penalty * (~batch.ended_with_eos).float()
        return scores, raw

    @torch.no_grad()
    def rollout(
        self, query_tokens: list[list[int]], update: int, timings: dict, prompt_ids: Sequence[int] | None = None
    ) -> Rollout:
        """Samples and scores one response per query. `prompt_ids` (the queries' indices in the prompt set; None: their
        positions in this list) key each response's draws with the update, so how the update's prompts are split
        across processes never changes a sample."""
        cfg, dev = self.sampling, self.acc.device
        q_ids, q_mask = left_pad(query_tokens, self.tok.pad_token_id, self.prompt_width)
        keys = range(len(query_tokens)) if prompt_ids is None else prompt_ids
        noise = row_noise(self.seed, [("ppo-rollout", update, int(i)) for i in keys], cfg.max_new_tokens)
        t0 = time.perf_counter()
        self.unwrapped.eval()
        with self.acc.autocast():
            batch = sample(
                self.unwrapped.policy,
                q_ids.to(dev),
                q_mask.to(dev),
                cfg.max_new_tokens,
                cfg.temperature,
                self.tok.eos_token_id,
                self.tok.pad_token_id,
                cfg.stop_at_eos,
                cfg.cache,
                noise,
            )
        t1 = time.perf_counter()
        with self.acc.autocast():
            logits, values = self.model(batch.input_ids, batch.attention_mask)
            tq = batch.query_ids.shape[1]
            logprobs = token_logprobs(response_slice(logits, tq).float() / cfg.temperature, batch.response_ids)
            values = response_slice(values, tq).float()
            ref_logprobs = response_logprobs(self.ref_policy, batch, cfg.temperature)
            scores, raw = self.score(batch)
        timings["time/generation_s"], timings["time/scoring_s"] = t1 - t0, time.perf_counter() - t1
        mask = batch.response_mask
        return Rollout(batch, logprobs * mask, ref_logprobs * mask, values * mask, scores, raw)

    # ------------------------------------------------------------ advantages
    def advantages(self, ro: Rollout, update: int) -> tuple[torch.Tensor, torch.Tensor, dict]:
        cfg, mask = self.cfg, ro.batch.response_mask
        kl = kl_per_token(ro.logprobs, ro.ref_logprobs, cfg.kl_estimator) * mask
        rewards, non_score = token_rewards(ro.scores, kl, self.kl_ctl.value, mask)
        if cfg.whiten_rewards:
            rewards = masked_whiten(rewards, mask, shift_mean=False)
        adv, returns = gae(rewards, ro.values, mask, cfg.gamma, cfg.lam)
        adv = masked_whiten(adv, mask)
        check_finite(update, reward=ro.scores, kl=kl, advantage=adv)
        seq_kl = kl.sum(1)
        stats = {
            "objective/kl": seq_kl.mean(),
            "objective/scores": ro.scores.mean(),
            "objective/raw_scores": ro.raw_scores.mean(),
            "objective/non_score_reward": non_score.sum(1).mean(),
            "objective/rlhf_reward": (ro.scores + non_score.sum(1)).mean(),
            "val/num_eos_tokens": ro.batch.ended_with_eos.float().sum(),
            "val/response_length": mask.sum(1).float().mean(),
        }
        return adv, returns, stats

    # ------------------------------------------------------------ update
    def _minibatch_loss(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        response_ids: torch.Tensor,
        mask: torch.Tensor,
        old_logprobs: torch.Tensor,
        old_values: torch.Tensor,
        adv: torch.Tensor,
        returns: torch.Tensor,
    ) -> tuple[torch.Tensor, dict]:
        """The PPO loss of one minibatch and its detached statistics (pg, vf, entropy, clip fractions...).

        One function of tensors, so that `ppo.compile_update` can hand the forward, the log-probs and both losses
        to torch.compile as one graph. The caller holds the autocast context; the loss has no matmul, so autocast
        leaves its fp32 math as it is.
        """
        cfg, tq = self.cfg, input_ids.shape[1] - response_ids.shape[1]
        logits, values = self.model(input_ids, attention_mask)
        logits = response_slice(logits, tq).float() / self.sampling.temperature  # (mb, Tr, V)
        new_logprobs = token_logprobs(logits, response_ids)
        new_values = response_slice(values, tq).float()
        pg_loss, pg_stats = policy_loss(new_logprobs, old_logprobs, adv, mask, cfg.cliprange)
        vf_loss, vf_stats = value_loss(new_values, old_values, returns, mask, cfg.cliprange_value)
        loss = pg_loss + cfg.vf_coef * vf_loss
        with torch.no_grad():
            entropy = masked_mean(entropy_from_logits(logits), mask)
        return loss, {"pg": pg_loss.detach(), "vf": vf_loss.detach(), "entropy": entropy} | pg_stats | vf_stats

    def update_epochs(self, ro: Rollout, adv: torch.Tensor, returns: torch.Tensor, update: int) -> dict:
        cfg, mask, b = self.cfg, ro.batch.response_mask, ro.batch
        mb_size = len(adv) // cfg.num_minibatches
        gen = torch.Generator().manual_seed(derive_seed(self.seed, "ppo-minibatches", update))
        logs: dict[str, list] = {k: [] for k in ("pg", "vf", "clipfrac", "vf_clipfrac", "approxkl", "ratio", "entropy")}
        self.model.train()
        for _ in range(cfg.ppo_epochs):
            for mb in torch.randperm(len(adv), generator=gen).split(mb_size):
                if self.compile_mode == "reduce-overhead":
                    torch.compiler.cudagraph_mark_step_begin()  # a new iteration: the last replay's outputs may be reused
                with self.acc.autocast():
                    loss, stats = self.minibatch_loss(
                        b.input_ids[mb], b.attention_mask[mb], b.response_ids[mb], mask[mb],
                        ro.logprobs[mb], ro.values[mb], adv[mb], returns[mb],
                    )  # fmt: skip
                self.optimizer.zero_grad(set_to_none=True)
                self.acc.backward(loss)
                grad_norm = self.acc.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                # before the step: a NaN gradient would silently turn every weight into NaN (one host sync for both)
                check_finite(update, loss=loss, gradient_norm=grad_norm)
                self.optimizer.step()
                if self.compile_mode == "reduce-overhead":  # a CUDA graph's next replay overwrites its outputs
                    stats = {k: v.clone() for k, v in stats.items()}
                for k, v in stats.items():
                    logs[k].append(v)
        mean = lambda k: torch.stack(logs[k]).mean()  # noqa: E731
        return {
            "loss/policy_avg": mean("pg"),
            "loss/value_avg": mean("vf"),
            "policy/clipfrac_avg": mean("clipfrac"),
            "val/clipfrac_avg": mean("vf_clipfrac"),
            "policy/approxkl_avg": mean("approxkl"),
            "val/ratio": mean("ratio"),
            "objective/entropy": mean("entropy"),
        }

    def set_lr(self, update: int) -> float:
        frac = 1.0 - update / self.cfg.total_updates if self.cfg.anneal_lr else 1.0
        lr = self.cfg.lr * frac
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def state_dict(self) -> dict:
        """Loop state a checkpoint needs besides the weights and the optimizer (JSON-safe)."""
        s = self.state
        return {
            "update": s.update,
            "kl_coef": s.kl_coef,
            "episode": s.episode,
            "history": s.history,
            "eval_samples": s.eval_samples,
        }

    def load_state_dict(self, saved: dict) -> None:
        self.state = PPOState(**saved)
        self.kl_ctl.value = saved["kl_coef"]

    def train(self, query_tokens: list[list[int]], callbacks: Sequence[Callback] = (), progress: bool = True) -> list[dict]:
        """Run the remaining updates (from state.update, so a restored trainer resumes); returns the history.

        Each update's row is the step's stats merged with what callbacks measure (eval points);
        callbacks then see the row in the history (checkpoints save it).
        """
        cfg, state, acc = self.cfg, self.state, self.acc
        self.prompt_width = max(len(q) for q in query_tokens)
        if state.update == 0:
            state.history.append({"update": 0} | _merged(cb.measure(self, 0) for cb in callbacks))
        bar = tqdm(
            range(state.update, cfg.total_updates),
            initial=state.update,
            total=cfg.total_updates,
            desc="ppo",
            disable=not (progress and acc.is_main_process),
        )
        for update in bar:
            idx = prompt_batch(len(query_tokens), cfg.batch_size, update, self.seed, acc.process_index, acc.num_processes)
            stats = self.step([query_tokens[i] for i in idx], update, prompt_ids=idx)
            stats |= _merged(cb.measure(self, update + 1) for cb in callbacks)
            state.history.append({"update": update + 1} | stats)
            bar.set_postfix(score=f"{stats['objective/scores']:.2f}", kl=f"{stats['objective/kl']:.2f}")
            for cb in callbacks:
                cb.on_update_end(self, update + 1)
        return state.history

    def step(self, query_tokens: list[list[int]], update: int, prompt_ids: Sequence[int] | None = None) -> dict:
        """One PPO update (0-based index); returns stats averaged across processes. `prompt_ids`: as in `rollout`."""
        timings: dict[str, float] = {}
        lr = self.set_lr(update)
        ro = self.rollout(query_tokens, update, timings, prompt_ids)
        adv, returns, stats = self.advantages(ro, update)
        t0 = time.perf_counter()
        stats |= self.update_epochs(ro, adv, returns, update)
        timings["time/update_s"] = time.perf_counter() - t0
        # one all-reduce and one host sync for every statistic, not one each
        means = self.acc.reduce(torch.stack([v.detach().float().reshape(()) for v in stats.values()]), reduction="mean")
        reduced = dict(zip(stats, means.tolist(), strict=True))
        self.kl_ctl.update(reduced["objective/kl"], self.cfg.batch_size)
        self.state.update, self.state.kl_coef = update + 1, self.kl_ctl.value
        self.state.episode += self.cfg.batch_size
        return (
            reduced
            | timings
            | {
                "lr": lr,
                "eps": self.cfg.batch_size / max(sum(timings.values()), 1e-9),
                "episode": self.state.episode,
                "kl_coef": self.kl_ctl.value,
            }
        )


class Callback:
    """Hooks of PPOTrainer.train: `measure` adds stats to an update's row, `on_update_end` sees the saved row."""

    def measure(self, trainer: PPOTrainer, update: int) -> dict:
        return {}

    def on_update_end(self, trainer: PPOTrainer, update: int) -> None:
        return None


def _merged(dicts) -> dict:
    out: dict = {}
    for d in dicts:
        out |= d
    return out


def phase_timings(history: list[dict]) -> dict[str, float]:
    """Seconds the run spent generating, scoring and updating, summed over its updates' rows."""
    timings = {}
    for key in ("time/generation_s", "time/scoring_s", "time/update_s"):
        timings[key.split("/")[1]] = round(sum(h.get(key, 0.0) for h in history), 2)
    return timings


def curve_summary(kl_coef: float, history: list[dict], cfg: PPOConfig, episodes: int, processes: int) -> dict:
    """A PPO curve's metrics.json: its KL coefficient, the last update's KL and proxy score, and how much it trained."""
    final = history[-1]
    return {
        "kl_coef": kl_coef,
        "lr": cfg.lr,
        "final_kl": final["objective/kl"],
        "final_scores": final["objective/scores"],
        "updates": cfg.total_updates,
        "episodes": episodes,
        "processes": processes,
    }


def prompt_batch(n_prompts: int, batch_size: int, update: int, seed: int, rank: int = 0, world: int = 1) -> list[int]:
    """This process's prompt indices for one update.

    The global batch is a slice of an epoch-wise seeded permutation, whatever the process count;
    process `rank` of `world` takes every world-th prompt of it, so N processes together see
    exactly the prompts one process would.
    """
    if batch_size % world:
        raise ValueError(f"ppo.batch_size={batch_size} must be divisible by the number of processes ({world})")
    per_epoch = n_prompts // batch_size
    if per_epoch == 0:
        raise ValueError(f"ppo: {n_prompts} training prompts < ppo.batch_size = {batch_size}")
    epoch, pos = divmod(update, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n_prompts)
    return order[pos * batch_size : (pos + 1) * batch_size][rank::world].tolist()


def check_prompt_batches(n_prompts: int, batch_size: int, seed: int, world: int) -> None:
    """`prompt_batch`'s checks as a one-line ConfigError (too few prompts, a batch the processes cannot share),
    so a run fails on them before loading any model."""
    try:
        prompt_batch(n_prompts, batch_size, 0, seed, 0, world)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def fitted_queries(trainer: PPOTrainer, tokenizer, prompts: list[dict], new_tokens: int) -> list[list[int]]:
    """The training prompts' token ids, cut by `fit_prompt_ids`: the policy samples them, and the reference, the value
    model and the reward model read the same sequences, so they must fit every one of the four."""
    ids = tokenizer([p["prompt"] for p in prompts], add_special_tokens=False)["input_ids"]
    models = (trainer.unwrapped.policy, trainer.ref_policy, trainer.unwrapped.value_model, trainer.reward_model)
    return fit_prompt_ids(ids, shared_positions(*models), new_tokens, "sampling.max_new_tokens")

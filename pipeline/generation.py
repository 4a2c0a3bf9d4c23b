"""Batched sampling with left padding, EOS truncation and per-token log-probs.

Shared by the preferences, ppo and generate stages, so every stage cuts and scores
responses the same way (the reward model sees exactly the tokens PPO scores).

Every sample draws from its own stream of uniforms, seeded by (seed, its key): a prompt id and a
sample index (`row_noise`). Which batch, worker or process a sample lands in therefore never
changes its draws, so throughput knobs (batch sizes, process counts) leave the samples unchanged
(up to matmul rounding at another batch size: see generate_samples).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NotRequired, TypedDict

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import LogitsProcessor, LogitsProcessorList

from pipeline.config import SamplingConfig
from pipeline.errors import ConfigError
from pipeline.seeds import derive_seed

log = logging.getLogger("rlhf_bench")

SAMPLERS = {
    "dynamic": "the project's KV-cached decoding loop (inverse-CDF draws)",
    "static": "transformers' generate with a static KV cache (compiled on CUDA)",
}


class GenerationRecord(TypedDict):
    """One sampled response: a line of outputs/<policy>.jsonl, of the evaluation points' eval_samples.jsonl
    and (with gold/proxy added by the scorers) of results/samples.jsonl."""

    prompt_id: int  # index of the prompt in data/prompts/eval.jsonl (or train.jsonl for preference samples)
    prompt: str
    policy: str  # "base", a curve ("ppo/kl0.01") or an extra policy's name
    sample_idx: int  # k of the prompt's samples, 0-based
    response: str  # decoded response, without the EOS token
    response_ids: list[int]  # response tokens, EOS included when the response ended with one
    n_tokens: int  # len(response_ids)
    ended_with_eos: bool
    logprob: NotRequired[float]  # sum of the policy's tempered token log-probs (with_logprobs=True)
    ref_logprob: NotRequired[float]  # the same under the reference (base) policy


@dataclass
class Batch:
    """A left-padded query batch and its sampled, EOS-truncated responses."""

    query_ids: torch.Tensor  # (B, Tq) left-padded
    query_mask: torch.Tensor  # (B, Tq)
    response_ids: torch.Tensor  # (B, Tr) PAD after the first EOS
    response_mask: torch.Tensor  # (B, Tr) 1 up to and including the first EOS
    eos_id: int | None = None  # set when responses were cut at their first EOS (stop_at_eos); None: fixed length
    # (B, Tr) log-probs of the drawn tokens under the sampling model's tempered logits, zero where masked, as the
    # decoding loop computed them; None where the sampler does not return them (transformers' static-cache generate)
    sampled_logprobs: torch.Tensor | None = None

    @property
    def input_ids(self) -> torch.Tensor:
        return torch.cat([self.query_ids, self.response_ids], dim=1)  # (B, Tq + Tr)

    @property
    def attention_mask(self) -> torch.Tensor:
        return torch.cat([self.query_mask, self.response_mask], dim=1)

    @property
    def ended_with_eos(self) -> torch.Tensor:
        """(B,) bool: the last kept token is the EOS the response was cut at, wherever it is (the last slot too)."""
        if self.eos_id is None:
            return torch.zeros(len(self.response_ids), dtype=torch.bool, device=self.response_ids.device)
        last = (self.response_mask.sum(1) - 1).clamp(min=0)
        return self.response_ids.gather(1, last[:, None]).squeeze(1) == self.eos_id

    def index(self, idx) -> Batch:
        logprobs = None if self.sampled_logprobs is None else self.sampled_logprobs[idx]
        return Batch(
            self.query_ids[idx], self.query_mask[idx], self.response_ids[idx], self.response_mask[idx], self.eos_id, logprobs
        )


def left_pad(token_lists: list[list[int]], pad_id: int, width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids and mask; `width` fixes the padded length (at least the longest list)."""
    width = max(width or 0, max(len(t) for t in token_lists))
    ids = torch.full((len(token_lists), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(token_lists), width), dtype=torch.long)
    for i, toks in enumerate(token_lists):
        if toks:
            ids[i, width - len(toks) :] = torch.tensor(toks)
            mask[i, width - len(toks) :] = 1
    return ids, mask


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions count real tokens only, so left padding does not shift them."""
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


def truncate_after_eos(response_ids: torch.Tensor, eos_id: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep tokens up to and including the first EOS; PAD (and mask out) everything after it."""
    is_eos = response_ids == eos_id
    after_eos = (is_eos.cumsum(1) - is_eos.long()) > 0  # strictly after the first EOS
    mask = (~after_eos).long()
    return response_ids.masked_fill(after_eos, pad_id), mask


def row_noise(seed: int, keys: Sequence[tuple], n: int) -> torch.Tensor:
    """(len(keys), n) uniforms in [0, 1): row i is the first n draws of a generator seeded by (seed, *keys[i]).

    A sample keyed by (prompt id, sample index) thus gets the same draws in any batch, at any batch size,
    on any worker or process. One small generator per sample per batch: microseconds next to a forward pass.
    """
    rows = [torch.rand(n, generator=torch.Generator().manual_seed(derive_seed(seed, *key))) for key in keys]
    return torch.stack(rows) if rows else torch.empty(0, n)


def sample_next(logits: torch.Tensor, temperature: float, u: torch.Tensor | None = None) -> torch.Tensor:
    """One token per row from softmax(logits / temperature), by inverting the CDF with one uniform draw.

    `u` (B,) holds each row's uniform in [0, 1) (from `row_noise`); None draws them from torch's global RNG.
    Exact ancestral sampling. torch.multinomial (what transformers' generate calls) draws one
    exponential per vocabulary entry; on CPU that was half of all sampling time (V=4096, batch 512),
    while cumsum + searchsorted needs one uniform per row: 36x faster for this step. Every op is
    row-wise, so a row's token depends on its own logits and uniform only, not on its batch-mates.
    """
    cdf = torch.softmax(logits.float() / temperature, dim=-1).cumsum(-1)
    if u is None:
        u = torch.rand(cdf.shape[0], device=cdf.device)
    # in (0, total]: never a zero-probability first token
    target = (1.0 - u.to(cdf.device, torch.float32)[:, None]) * cdf[:, -1:]
    return torch.searchsorted(cdf, target).squeeze(1).clamp_(max=cdf.shape[-1] - 1)


def decode(
    model,
    query_ids,
    query_mask,
    max_new_tokens: int,
    temperature: float,
    eos_id: int,
    pad_id: int,
    stop_at_eos: bool,
    noise: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(response tokens, their log-probs), both (B, steps <= max_new_tokens), from a KV-cached decoding loop; PAD
    after a row's EOS. Step t of row i draws with noise[i, t]. The log-probs come from the logits the draw used
    (tempered as `forward_logits` tempers them), so a caller that needs them skips a forward pass; they match a
    full forward pass up to floating-point noise (the cached attention sums in another order)."""
    attn, pos = query_mask, position_ids(query_mask)
    out = model(input_ids=query_ids, attention_mask=attn, position_ids=pos, use_cache=True, logits_to_keep=1)
    finished = torch.zeros(len(query_ids), dtype=torch.bool, device=query_ids.device)
    tokens, logprobs = [], []
    for step in range(max_new_tokens):
        logits = out.logits[:, -1].float()
        token = sample_next(logits, temperature, noise[:, step])
        if stop_at_eos:
            token = token.masked_fill(finished, pad_id)
            finished |= token == eos_id
        tokens.append(token)
        logprobs.append(token_logprobs(logits if temperature == 1.0 else logits / temperature, token))
        if step == max_new_tokens - 1 or (stop_at_eos and bool(finished.all())):
            break
        attn = torch.cat([attn, attn.new_ones(len(attn), 1)], dim=1)
        pos = pos[:, -1:] + 1
        out = model(input_ids=token[:, None], attention_mask=attn, position_ids=pos, cache=out.cache, use_cache=True)
    return torch.stack(tokens, dim=1), torch.stack(logprobs, dim=1)


_announced: set[tuple[str, str]] = set()


def resolve_cache(cache: str, device) -> str:
    """The sampler `sampling.cache` names on `device`: "auto" is "static" on CUDA and "dynamic" elsewhere.

    Measured in bench/RESULTS.md: on an H100 transformers' compiled static-cache generate drew 1,693 samples/s
    and the project's loop 932; on the 2-core CPU the loop is 1.4-1.6x generate. Logs the choice once per device.
    """
    if cache != "auto":
        return cache
    device_type = torch.device(device).type
    resolved = "static" if device_type == "cuda" else "dynamic"
    if (device_type, resolved) not in _announced:
        _announced.add((device_type, resolved))
        log.info("sampling.cache auto on %s: %s", device_type, SAMPLERS[resolved])
    return resolved


class DrawWith(LogitsProcessor):
    """Makes transformers' generate take `sample_next`'s draws with the rows' own uniforms: every score but the
    drawn token's becomes -inf, so generate's greedy pick is that token (the same draw the project's loop makes)."""

    def __init__(self, noise: torch.Tensor, temperature: float, prompt_len: int):
        self.noise, self.temperature, self.prompt_len = noise, temperature, prompt_len

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        token = sample_next(scores, self.temperature, self.noise[:, input_ids.shape[1] - self.prompt_len])
        return torch.full_like(scores, float("-inf")).scatter_(1, token[:, None], 0.0)


def hf_generate(
    model,
    query_ids,
    query_mask,
    max_new_tokens: int,
    temperature: float,
    eos_id: int,
    pad_id: int,
    stop_at_eos: bool,
    noise: torch.Tensor | None = None,
    cache: str | None = "static",
) -> torch.Tensor:
    """Response tokens from transformers' generate; cache="static" preallocates the KV cache, which
    transformers compiles on CUDA; None is its default dynamic cache (the benchmark's reference).

    With `noise` (B, max_new_tokens) each row draws with its own uniforms (`DrawWith`); None leaves
    transformers' own torch.multinomial draws (the benchmark's reference path)."""
    if noise is None:  # transformers' own draws
        draw = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
    else:  # a greedy pick over DrawWith's scores, where only the drawn token is finite
        draw = {"do_sample": False, "logits_processor": LogitsProcessorList([DrawWith(noise, temperature, query_ids.shape[1])])}
    out = model.generate(
        cache_implementation=cache,
        input_ids=query_ids,
        attention_mask=query_mask,
        max_new_tokens=max_new_tokens,
        min_new_tokens=0 if stop_at_eos else max_new_tokens,
        pad_token_id=pad_id,
        eos_token_id=eos_id if stop_at_eos else None,
        use_cache=True,
        **draw,
    )
    return out[:, query_ids.shape[1] :]


@torch.no_grad()
def sample(
    model,
    query_ids,
    query_mask,
    max_new_tokens: int,
    temperature: float,
    eos_id: int,
    pad_id: int,
    stop_at_eos: bool = True,
    cache: str = "auto",
    noise: torch.Tensor | None = None,
) -> Batch:
    """Ancestral sampling from the full distribution at `temperature` (no top-k/top-p), with a KV cache.

    cache="dynamic": the project's decoding loop (`decode`), the fast path on CPU. "static": transformers'
    generate with a preallocated cache, which it compiles on CUDA (1.8x our loop on an H100 in
    bench/generate_throughput.py; the first call per shape pays the compile). Both draw with `sample_next`
    and the rows' uniforms `noise` (B, max_new_tokens) from `row_noise`, so they give the same tokens up to
    floating-point noise in the logits; None draws the uniforms from torch's global RNG (not batch-invariant).
    "auto": whichever of the two `resolve_cache` picks for the device.
    """
    if noise is None:
        noise = torch.rand(len(query_ids), max_new_tokens)
    noise = noise.to(query_ids.device)
    logprobs = None
    if resolve_cache(cache, query_ids.device) == "static":
        response = hf_generate(model, query_ids, query_mask, max_new_tokens, temperature, eos_id, pad_id, stop_at_eos, noise)
    else:
        response, logprobs = decode(model, query_ids, query_mask, max_new_tokens, temperature, eos_id, pad_id, stop_at_eos, noise)
    if response.shape[1] < max_new_tokens:  # every sequence stopped early
        response = F.pad(response, (0, max_new_tokens - response.shape[1]), value=pad_id)
    if stop_at_eos:
        response, mask = truncate_after_eos(response, eos_id, pad_id)
    else:
        mask = torch.ones_like(response)
    if logprobs is not None:
        logprobs = F.pad(logprobs, (0, max_new_tokens - logprobs.shape[1])) * mask
    return Batch(query_ids, query_mask, response, mask, eos_id if stop_at_eos else None, logprobs)


def forward_logits(model, batch: Batch, temperature: float) -> torch.Tensor:
    """Logits (at `temperature`) that predict each response token: (B, Tr, V)."""
    attn, tr = batch.attention_mask, batch.response_ids.shape[1]
    # the LM head runs only on the positions that predict response tokens (not on the prompt)
    logits = model(
        input_ids=batch.input_ids, attention_mask=attn, position_ids=position_ids(attn), use_cache=False, logits_to_keep=tr + 1
    ).logits
    logits = logits[:, :-1].float()
    return logits if temperature == 1.0 else logits / temperature


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log p(token) from logits: (B, T, V), (B, T) -> (B, T). Gathers before normalising to save memory."""
    picked = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


@torch.no_grad()
def response_logprobs(model, batch: Batch, temperature: float) -> torch.Tensor:
    """Per-token log-probs of the response under `model`, zero where masked: (B, Tr)."""
    lp = token_logprobs(forward_logits(model, batch, temperature), batch.response_ids)
    return lp * batch.response_mask


def encode_prompts(tokenizer, prompts: list[str]) -> list[list[int]]:
    return tokenizer(prompts, add_special_tokens=False)["input_ids"]


def context_positions(model) -> int | None:
    """The longest sequence the model takes (GPT-2's n_positions, Llama's max_position_embeddings); None when unstated."""
    return getattr(model.config, "max_position_embeddings", None)


def shared_positions(*models) -> int | None:
    """The context every one of `models` takes (the smallest stated; None when none states one): sequences that
    one model samples and others score must fit them all."""
    return min((n for n in (context_positions(m) for m in models if m is not None) if n), default=None)


def fit_prompt(prompt_ids: list[int], response_len: int, positions: int | None) -> list[int]:
    """The one rule by which every path fits prompt + response into a model's context: keep the prompt's last
    `positions - response_len` tokens (none when the response alone fills the context) and the whole response.

    The end of a prompt is what the response continues; a longer sequence would index past the position
    embeddings (an IndexError deep in the model). Sampling passes max_new_tokens as `response_len`, scorers
    the response's length (at least max_new_tokens for sampled responses: `fit_sequence`). None: no limit.
    """
    if positions is None:
        return prompt_ids
    room = max(positions - response_len, 0)
    return prompt_ids[len(prompt_ids) - room :] if room < len(prompt_ids) else prompt_ids


def fit_sequence(prompt_ids: list[int], response_ids: list[int], positions: int | None, new_tokens: int = 0) -> list[int]:
    """prompt + response as one input of a model with `positions`, the prompt cut by `fit_prompt`.

    `new_tokens` (the sampler's max_new_tokens) budgets a sampled response as the sampler did, so a scorer sees
    the very prompt tokens the policy continued, whatever the response's length; 0 for responses not sampled
    here (preference pairs). Only a response longer than the whole context loses tokens: its first ones.
    """
    sequence = fit_prompt(prompt_ids, max(len(response_ids), new_tokens), positions) + response_ids
    return sequence if positions is None else sequence[-positions:]


def fit_prompt_ids(
    prompt_ids: list[list[int]], positions: int | None, new_tokens: int, key: str = "max_new_tokens"
) -> list[list[int]]:
    """Prompts about to be sampled, cut by `fit_prompt` so that prompt + `new_tokens` fits `positions`; one
    warning counts the cut ones. `key` names the param in the error when no prompt token fits at all.
    """
    if positions is None:
        return prompt_ids
    room = positions - new_tokens
    if room < 1:
        raise ConfigError(
            f"{key}: {new_tokens} new tokens leave no room for a prompt in the model's {positions} positions; lower it"
        )
    longest = max(prompt_ids, key=len, default=[])
    if len(longest) > room:
        n_cut = sum(len(p) > room for p in prompt_ids)
        log.warning(
            "%d of %d prompts exceed the %d tokens left of %d positions after %s=%d (longest: %d tokens); kept their last %d tokens",
            n_cut,
            len(prompt_ids),
            room,
            positions,
            key,
            new_tokens,
            len(longest),
            room,
        )
    return [fit_prompt(p, new_tokens, positions) for p in prompt_ids]


def sampled_prompt_ids(tokenizer, prompts: list[dict], model, new_tokens: int, key: str) -> dict[str, list[int]]:
    """{prompt text: the token ids a sample of `model` continued}, cut to its context as `generate_samples` cuts them."""
    texts = [p["prompt"] for p in prompts]
    fitted = fit_prompt_ids(encode_prompts(tokenizer, texts), context_positions(model), new_tokens, key)
    return dict(zip(texts, fitted, strict=True))


def generate_samples(
    model,
    tokenizer,
    prompts: list[dict],
    sampling: SamplingConfig,
    *,
    samples_per_prompt: int,
    batch_size: int,
    seed: int,
    device,
    policy_name: str,
    ref_model=None,
    with_logprobs: bool = True,
    sampler_logprobs: bool = False,
    progress: bool = True,
) -> list[GenerationRecord]:
    """k samples per prompt as generation records (`GenerationRecord`).

    Sample k of a prompt draws from its own stream, seeded by (seed, prompt_id, k) (`row_noise`), so
    batch_size changes the speed, never the samples; prompt ids must be stable (the prompt file's index).

    with_logprobs=False leaves out `logprob`/`ref_logprob` (a full forward pass per batch, as costly as
    the sampling itself on CPU) for callers that only need the text and tokens. sampler_logprobs=True takes the
    policy's log-probs from the decoding loop where it returns them (a forward pass fewer); they equal the forward
    pass's up to floating-point noise that depends on the batch size, so only callers whose batch is not a knob
    (the curves' evaluation points) use it, and every output of a stage stays byte-identical across batch sizes.
    progress=False drops the bar, for callers inside a loop with its own (a nested bar interleaves with it in
    `dvc queue logs`).
    """
    if len({p["prompt_id"] for p in prompts}) < len(prompts):  # two prompts would share their samples' streams
        raise ValueError(f"sampling {policy_name}: prompt ids repeat; each prompt needs its own")
    jobs = [(p, k) for p in prompts for k in range(samples_per_prompt)]
    texts = [p["prompt"] for p in prompts]
    new_tokens, temperature = sampling.max_new_tokens, sampling.temperature
    # the reference scores the same sequences, so they must fit both models
    positions = shared_positions(model, ref_model)
    encoded = dict(zip(texts, fit_prompt_ids(encode_prompts(tokenizer, texts), positions, new_tokens), strict=True))
    # one padded prompt width for every batch: a row's logits then do not depend on its batch-mates' prompt lengths
    # (padding to the batch's own longest prompt moved CPU logits by ~1e-7), and a static cache (and its compiled
    # step) keeps one shape. Left: matmul rounding at another batch size, which changed 1 of 512 default-shape
    # samples between batch sizes 7 and 256 on CPU (none at the tiny shape, where outputs are byte-identical)
    width = max(len(ids) for ids in encoded.values())
    records = []
    for start in tqdm(range(0, len(jobs), batch_size), desc=f"sampling {policy_name}", leave=False, disable=not progress):
        chunk = jobs[start : start + batch_size]
        q_ids, q_mask = left_pad([encoded[p["prompt"]] for p, _ in chunk], tokenizer.pad_token_id, width)
        batch = sample(
            model,
            q_ids.to(device),
            q_mask.to(device),
            new_tokens,
            temperature,
            tokenizer.eos_token_id,
            tokenizer.pad_token_id,
            sampling.stop_at_eos,
            sampling.cache,
            row_noise(seed, [(p["prompt_id"], k) for p, k in chunk], new_tokens),
        )
        if with_logprobs:
            own = batch.sampled_logprobs if sampler_logprobs else None  # None from transformers' static-cache path
            logprob = (own if own is not None else response_logprobs(model, batch, temperature)).sum(1)
            # the base policy is its own reference: one forward pass, not two
            same_model = ref_model is None or ref_model is model
            ref_logprob = logprob if same_model else response_logprobs(ref_model, batch, temperature).sum(1)
        else:
            logprob = ref_logprob = None
        records.extend(_records(chunk, batch, logprob, ref_logprob, tokenizer, policy_name))
    return records


def _records(chunk, batch: Batch, logprob, ref_logprob, tokenizer, policy_name: str) -> list[GenerationRecord]:
    out: list[GenerationRecord] = []
    for i, (prompt, k) in enumerate(chunk):
        n = int(batch.response_mask[i].sum())
        ids = batch.response_ids[i, :n].tolist()
        ended = bool(batch.ended_with_eos[i])
        text_ids = ids[:-1] if ended else ids
        record: GenerationRecord = {
            "prompt_id": prompt["prompt_id"],
            "prompt": prompt["prompt"],
            "policy": policy_name,
            "sample_idx": k,
            "response": tokenizer.decode(text_ids, skip_special_tokens=True),
            "response_ids": ids,
            "n_tokens": n,
            "ended_with_eos": ended,
        }
        if logprob is not None:
            record |= {"logprob": float(logprob[i]), "ref_logprob": float(ref_logprob[i])}
        out.append(record)
    return out

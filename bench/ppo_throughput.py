"""PPO throughput: episodes/second of our PPO (rl.ppo_trainer) versus TRL 1.12's PPOTrainer.

What it measures
  Both implementations train copies of the same random-init GPT-2 policy/reference
  (GPT2LMHeadModel) and value/reward (GPT2ForSequenceClassification, num_labels=1) on the same
  prompts with the same PPO settings: fixed-length responses (EOS never ends a response and
  nothing is truncated), 4 PPO epochs, 1 minibatch, one rollout batch per update. Each repeat
  builds a fresh trainer per implementation, runs 1 warm-up update, then times N updates. The two
  implementations run interleaved in one process (their order alternates between repeats) so that
  background load hits both alike. Reported: the median seconds per update over all timed updates,
  episodes/s = batch size / that median, our generation / scoring / update split, and ours/TRL.
  Also: the model FLOPs of one update, each implementation's achieved FLOP/s as a share of a GEMM
  rate measured in the same run at the models' shape (the compute floor) and, on a known GPU, of the
  datasheet bf16 peak (MFU). --ours-variants times other implementation choices of ours (the
  sampler, the AdamW kernel, torch.compile of the update) as extra rows of the same run; a compiled
  variant's warm-up update pays its compile, which the timed updates exclude.

Shapes
  default  the CPU default's shape until 2026-12-06 (the quick profile's): GPT-2, 4 layers x 128 wide, 4 heads,
           vocab 4096; 32 episodes per update, 8-token prompts, 24-token responses; fp32.
  --gpu    GPT-2-124M shape (12 layers x 768, 12 heads, vocab 50257); 64 episodes,
           16-token prompts, 48-token responses; bf16 autocast over fp32 weights in both.
  --tiny   smoke sizes for either mode, to test the code path on a CPU in seconds.
  CPU runs use 1 torch thread for both implementations unless --threads says otherwise: on a
  shared 2-core machine a 2-thread pool stalls at OpenMP barriers (see THREADS_WHY).

TRL 1.12 (the last release with PPO) is never a project dependency. Install it into a throwaway,
git-ignored directory once; the bench puts that directory first on sys.path:
    .venv/bin/python -m pip install --no-deps --target bench/out/trl112 trl==1.12.0

Run (from the repository root):
    python -m bench.ppo_throughput                       # CPU, default shapes
    python -m bench.ppo_throughput --gpu                 # GPU machine (carry bench/out/trl112)
    python -m bench.ppo_throughput --tiny --updates 2 --repeats 1      # smoke test
    python -m bench.ppo_throughput --gpu --tiny --updates 2 --repeats 1  # GPU code path on CPU
    python -m bench.ppo_throughput --gpu --ours-variants default cache=dynamic adamw=loop  # what each choice buys
Results: a table on stdout and bench/out/ppo_throughput.json.
"""

from __future__ import annotations

import argparse
import copy
import functools
import gc
import json
import os
import platform
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"
TRL_DIR = OUT_DIR / "trl112"
TRL_VERSION = "1.12.0"
INSTALL_HINT = f".venv/bin/python -m pip install --no-deps --target {TRL_DIR.relative_to(ROOT)} trl=={TRL_VERSION}"

# Set before transformers / TRL are imported: no tokenizer thread pool fighting the 2 torch threads,
# and no "experimental API" warning on every import.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

SEED = 0
# Why CPU runs default to 1 torch thread: on this 2-core machine other processes (the pipeline,
# tests) often hold a core; a 2-thread OpenMP pool then stalls at every barrier waiting for a
# descheduled thread, and an update of the tiny model went from 0.05 s to 6 s: the figure then
# measures the scheduler, not PPO. One thread per implementation only time-slices.
THREADS_WHY = "1 thread on CPU: a 2-thread pool on a shared 2-core machine stalls at OpenMP barriers (100x swings)"
PAD_ID, EOS_ID, UNK_ID = 0, 1, 2  # the first ordinary token id is 3


@dataclass(frozen=True)
class Shape:
    n_layer: int
    n_embd: int
    n_head: int
    vocab_size: int
    n_positions: int
    batch_size: int  # episodes per update
    prompt_length: int
    response_length: int
    bf16: bool


CPU_SHAPE = Shape(
    n_layer=4,
    n_embd=128,
    n_head=4,
    vocab_size=4096,
    n_positions=128,
    batch_size=32,
    prompt_length=8,
    response_length=24,
    bf16=False,
)
GPU_SHAPE = Shape(
    n_layer=12,
    n_embd=768,
    n_head=12,
    vocab_size=50257,
    n_positions=1024,
    batch_size=64,
    prompt_length=16,
    response_length=48,
    bf16=True,
)
TINY_SHAPE = Shape(
    n_layer=2, n_embd=32, n_head=2, vocab_size=256, n_positions=64, batch_size=8, prompt_length=4, response_length=6, bf16=False
)

# PPO hyperparameters shared by both implementations (params.yaml's ppo defaults). They do not
# change the amount of compute, but are kept identical so both runs do the same algorithm.
PPO = {
    "ppo_epochs": 4,
    "num_minibatches": 1,
    "lr": 5e-5,
    "kl_coef": 0.05,
    "kl_estimator": "k1",
    "temperature": 1.0,
    "cliprange": 0.2,
    "cliprange_value": 0.2,
    "vf_coef": 0.1,
    "gamma": 1.0,
    "lam": 0.95,
    "whiten_rewards": False,
}

# Every change made to either implementation for this bench (also written to the JSON).
PATCHES = {
    "ours": [
        "none: SamplingConfig(stop_at_eos=False) samples fixed-length responses (generation runs with eos_token_id=None, "
        "EOS is an ordinary token that ends nothing, every response keeps response_length tokens).",
    ],
    "trl": [
        "ACCELERATE_MIXED_PRECISION is set to the run's precision ('bf16' with --gpu, else 'no') while TRL's "
        "PPOTrainer is built: TRL 1.12 creates its own Accelerator() without a mixed_precision argument and relied on "
        "transformers 4.x's TrainingArguments exporting that variable; transformers 5.24 no longer does, so bf16=True "
        "silently trained in fp32 (checked: the bench asserts the accelerator's precision for both implementations).",
        "otherwise none to TRL's behaviour. Configured with stop_token=None, which makes TRL itself set the policy's "
        "generation_config.eos_token_id=None (EOS ends nothing, no truncation), and missing_eos_penalty=None.",
        "instrumentation only: timing wrappers around the module-level batch_generation, forward/get_reward (no-grad "
        "calls) and gc.collect that TRL's train() looks up, to split its update time; they call the originals unchanged.",
    ],
}


# ---------------------------------------------------------------- TRL 1.12 import
def use_trl112():
    """Import TRL 1.12 from the throwaway directory, ahead of the venv's TRL 1.16."""
    if not (TRL_DIR / "trl" / "experimental" / "ppo" / "ppo_trainer.py").is_file():
        sys.exit(f"TRL {TRL_VERSION} is not installed for the bench; run:\n    {INSTALL_HINT}\nor pass --skip-trl")
    if "trl" in sys.modules:  # a TRL imported earlier would shadow 1.12
        sys.exit("ppo_throughput: trl was already imported before TRL 1.12 could be put first on sys.path")
    sys.path.insert(0, str(TRL_DIR))
    import trl

    if trl.__version__ != TRL_VERSION or not Path(trl.__file__).is_relative_to(TRL_DIR):
        sys.exit(f"ppo_throughput: expected TRL {TRL_VERSION} from {TRL_DIR}, got {trl.__version__} from {trl.__file__}")
    return trl


# ---------------------------------------------------------------- shared inputs
def build_tokenizer(vocab_size: int):
    """A word-level tokenizer of exactly vocab_size ids with separate PAD and EOS.

    Prompts are random token ids, so no BPE training is needed; the tokenizer only supplies the
    special ids and the padding both trainers use, and makes len(tokenizer) match the model's vocab.
    """
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    from pipeline.models import EOS_TOKEN, PAD_TOKEN

    vocab = {PAD_TOKEN: PAD_ID, EOS_TOKEN: EOS_ID, "<|unk|>": UNK_ID} | {f"t{i}": i for i in range(UNK_ID + 1, vocab_size)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<|unk|>"))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD_TOKEN,
        eos_token=EOS_TOKEN,
        bos_token=EOS_TOKEN,
        unk_token="<|unk|>",
        padding_side="left",
    )


@dataclass
class Models:
    policy: torch.nn.Module
    ref: torch.nn.Module
    value: torch.nn.Module
    reward: torch.nn.Module

    def copy(self) -> Models:
        """Fresh copies, so every run starts from the same weights (training changes the policy and value)."""
        return Models(*(copy.deepcopy(m) for m in (self.policy, self.ref, self.value, self.reward)))


def build_models(shape: Shape, tokenizer) -> Models:
    from transformers import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel

    from pipeline.models import disable_dropout

    torch.manual_seed(SEED)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=shape.n_positions,
        n_embd=shape.n_embd,
        n_layer=shape.n_layer,
        n_head=shape.n_head,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    policy = GPT2LMHeadModel(config)
    rm_config = copy.deepcopy(config)
    rm_config.num_labels = 1  # a scalar head
    reward = GPT2ForSequenceClassification(rm_config)
    for model in (policy, reward):
        disable_dropout(model)  # as the pipeline loads models; TRL disables dropout itself too
    # The value model starts as the reward model, as in stages/ppo.py.
    return Models(policy, copy.deepcopy(policy).eval(), copy.deepcopy(reward), reward.eval())


def make_prompts(shape: Shape, n: int) -> list[list[int]]:
    """n prompts of exactly prompt_length ordinary token ids (no padding, so both trainers see the same tensors)."""
    gen = torch.Generator().manual_seed(SEED)
    return torch.randint(UNK_ID + 1, shape.vocab_size, (n, shape.prompt_length), generator=gen).tolist()


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def precision(shape: Shape) -> str:
    """accelerate's mixed-precision mode: bf16 autocast over fp32 weights, or none."""
    return "bf16" if shape.bf16 else "no"


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a timestamp marks finished work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def release(device: torch.device) -> None:
    """Drop the last run's trainer and models before the next one is timed."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ---------------------------------------------------------------- ours
# Variants of ours timed as extra rows of the same run (--ours-variants): each changes one implementation choice of
# PPOTrainer from its default, so the ratio to "ours" in the same run says what that choice buys on this device.
OURS_VARIANTS = {
    "default": {},
    "cache=dynamic": {"cache": "dynamic"},  # the project's decoding loop (auto picks it on CPU)
    "cache=static": {"cache": "static"},  # transformers' generate with a static cache, compiled on CUDA (auto picks it there)
    "adamw=fused": {"fused_adamw": True},  # the CUDA default
    "adamw=loop": {"fused_adamw": False},  # torch's default AdamW (the CPU default)
    "compile=default": {"compile_update": "default"},  # torch.compile of the minibatch loss (ppo.compile_update)
    "compile=reduce-overhead": {"compile_update": "reduce-overhead"},  # the same, replayed as CUDA graphs on CUDA
}


def run_ours(
    models: Models,
    tokenizer,
    prompts: list[list[int]],
    shape: Shape,
    updates: int,
    device: torch.device,
    cache: str = "auto",
    fused_adamw: bool | None = None,
    compile_update: str = "off",
) -> list[dict]:
    """Time trainer.step over 1 warm-up + `updates` updates; returns one row per timed update."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    from pipeline.config import PPOConfig, SamplingConfig
    from rl.ppo_trainer import PPOTrainer

    # TRL's TrainingArguments reset accelerate's process-wide state and TRL's Accelerator sets it; start
    # from a clean state so our run does not depend on which implementation ran before it.
    AcceleratorState._reset_state(reset_partial_state=True)
    if compile_update != "off":
        # every compiled trainer compiles afresh in its warm-up update: dynamo would otherwise recompile for each new
        # trainer until its recompile limit and then run the loss eagerly without saying so
        torch.compiler.reset()
    acc = Accelerator(cpu=device.type == "cpu", mixed_precision=precision(shape))  # as stages/ppo.py
    # the KL coefficient is a trainer argument (one per curve) and the temperature a sampling setting, not PPOConfig fields
    ours = {k: v for k, v in PPO.items() if k not in ("kl_coef", "temperature")}
    cfg = PPOConfig(
        total_updates=updates + 1,
        batch_size=shape.batch_size,
        missing_eos_penalty=None,
        compile_update=compile_update,
        **ours,
    )
    if acc.mixed_precision != precision(shape):
        raise RuntimeError(f"ours: accelerator mixed_precision={acc.mixed_precision}, expected {precision(shape)}")
    trainer = PPOTrainer(
        cfg,
        acc,
        models.policy,
        models.ref,
        models.value,
        models.reward,
        tokenizer,
        {"mean": 0.0, "std": 1.0},
        seed=SEED,
        kl_coef=PPO["kl_coef"],
        sampling=SamplingConfig(
            max_new_tokens=shape.response_length, temperature=PPO["temperature"], stop_at_eos=False, cache=cache
        ),
        fused_adamw=fused_adamw,
    )
    rows, b = [], shape.batch_size
    for update in range(updates + 1):
        sync(device)
        t0 = time.perf_counter()
        stats = trainer.step(prompts[update * b : (update + 1) * b], update)
        sync(device)
        wall = time.perf_counter() - t0
        if stats["val/response_length"] != shape.response_length:  # fixed-length responses, or the comparison is unfair
            raise RuntimeError(f"ours: responses were cut (mean length {stats['val/response_length']})")
        rows.append(
            {"s": wall} | {k.split("/")[1][:-2]: stats[k] for k in ("time/generation_s", "time/scoring_s", "time/update_s")}
        )
    acc.free_memory()
    return rows[1:]  # the first update is warm-up


# ---------------------------------------------------------------- TRL 1.12
def update_clock(device: torch.device, phases: dict):
    """A callback that timestamps train begin and every update's end, with a snapshot of `phases`.

    TRL's train() runs all its updates in one call; on_step_end fires once per update, after the
    PPO epochs, the metrics logging and the LR step, so consecutive marks bracket whole updates.
    """
    from transformers import TrainerCallback

    class UpdateClock(TrainerCallback):
        def __init__(self):
            self.marks: list[tuple[float, dict]] = []

        def mark(self):
            sync(device)
            self.marks.append((time.perf_counter(), dict(phases)))

        def on_train_begin(self, args, state, control, **kwargs):
            self.mark()

        def on_step_end(self, args, state, control, **kwargs):
            self.mark()

    return UpdateClock()


@contextmanager
def trl_phase_timers(device: torch.device, shape: Shape):
    """Instrumentation only (behaviour unchanged): time TRL's phases for the split ours reports.

    Wraps the module-level names TRL's train() looks up: batch_generation (generation; also checks
    every response has response_length tokens), forward/get_reward when run without grad (the
    rollout's reference, value and reward forwards: scoring), and gc.collect, which TRL calls twice
    per update and which costs ~0.2 s per call here (a process with transformers and datasets
    loaded holds ~430k objects), whatever the model size.
    """
    from trl.experimental.ppo import ppo_trainer as trl_ppo

    totals = {"generation": 0.0, "scoring": 0.0, "gc": 0.0}

    def timed(fn, key: str, no_grad_only: bool = False):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if no_grad_only and torch.is_grad_enabled():  # the PPO epochs' forward counts as update time
                return fn(*args, **kwargs)
            sync(device)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                sync(device)
                totals[key] += time.perf_counter() - t0

        return wrapper

    def generation(*args, **kwargs):
        query_responses, logits = timed_generation(*args, **kwargs)
        if query_responses.shape[1] != shape.prompt_length + shape.response_length:  # fixed length, or the comparison is unfair
            raise RuntimeError(f"TRL: responses were cut ({query_responses.shape[1] - shape.prompt_length} tokens)")
        return query_responses, logits

    class TimedGC:
        """Stands in for the gc module inside TRL's ppo_trainer."""

        collect = staticmethod(timed(gc.collect, "gc"))

        def __getattr__(self, name):
            return getattr(gc, name)

    saved = {name: getattr(trl_ppo, name) for name in ("batch_generation", "forward", "get_reward", "gc")}
    timed_generation = timed(saved["batch_generation"], "generation")
    trl_ppo.batch_generation, trl_ppo.gc = generation, TimedGC()
    trl_ppo.forward = timed(saved["forward"], "scoring", no_grad_only=True)
    trl_ppo.get_reward = timed(saved["get_reward"], "scoring", no_grad_only=True)
    try:
        yield totals
    finally:
        for name, value in saved.items():
            setattr(trl_ppo, name, value)


@contextmanager
def trl_accelerate_precision(shape: Shape):
    """PATCH (see PATCHES['trl']): hand TRL's own Accelerator the configured mixed precision.

    TRL 1.12's PPOTrainer builds `Accelerator(gradient_accumulation_steps=...)` and relied on
    transformers 4.x's TrainingArguments exporting ACCELERATE_MIXED_PRECISION; transformers 5.24 no
    longer exports it, so bf16=True would silently train in fp32. Set the variable, as 4.x did,
    while the trainer is built.
    """
    key, saved = "ACCELERATE_MIXED_PRECISION", os.environ.get("ACCELERATE_MIXED_PRECISION")
    os.environ[key] = precision(shape)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = saved


def trl_config(shape: Shape, updates: int, device: torch.device, output_dir: Path):
    from trl.experimental.ppo import PPOConfig as TRLPPOConfig

    return TRLPPOConfig(
        output_dir=str(output_dir),
        report_to="none",
        seed=SEED,
        use_cpu=device.type == "cpu",
        bf16=shape.bf16,  # TRL's default is bf16=True; on CPU both run fp32
        fp16=False,
        gradient_checkpointing=False,  # TRL's default is True (its PPO loop never enables it); off in ours too
        per_device_train_batch_size=shape.batch_size,
        gradient_accumulation_steps=1,
        local_rollout_forward_batch_size=shape.batch_size,  # one rollout forward per update, as ours
        total_episodes=(updates + 1) * shape.batch_size,  # 1 warm-up + `updates` updates
        num_mini_batches=PPO["num_minibatches"],
        num_ppo_epochs=PPO["ppo_epochs"],
        response_length=shape.response_length,
        stop_token=None,  # no stop token: EOS ends nothing and nothing is truncated
        stop_token_id=None,
        missing_eos_penalty=None,
        temperature=PPO["temperature"],
        learning_rate=PPO["lr"],
        kl_coef=PPO["kl_coef"],
        kl_estimator=PPO["kl_estimator"],
        cliprange=PPO["cliprange"],
        cliprange_value=PPO["cliprange_value"],
        vf_coef=PPO["vf_coef"],
        gamma=PPO["gamma"],
        lam=PPO["lam"],
        whiten_rewards=PPO["whiten_rewards"],
        num_sample_generations=0,  # no debugging generations inside the timed loop
        eval_strategy="no",
        save_strategy="no",
        logging_steps=1_000_000,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def run_trl(models: Models, tokenizer, prompts: list[list[int]], shape: Shape, updates: int, device: torch.device) -> list[dict]:
    """Time TRL's train() for 1 warm-up + `updates` updates, per update through a callback."""
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from trl.experimental.ppo import PPOTrainer as TRLPPOTrainer

    with trl_phase_timers(device, shape) as phases:
        clock = update_clock(device, phases)
        with trl_accelerate_precision(shape):
            trainer = TRLPPOTrainer(
                args=trl_config(shape, updates, device, OUT_DIR / "trl_ppo_run"),
                processing_class=tokenizer,
                model=models.policy,
                ref_model=models.ref,
                reward_model=models.reward,
                value_model=models.value,
                train_dataset=Dataset.from_dict({"input_ids": prompts[: (updates + 1) * shape.batch_size]}),
                callbacks=[clock],
            )
        if trainer.accelerator.mixed_precision != precision(shape):
            raise RuntimeError(
                f"TRL: accelerator mixed_precision={trainer.accelerator.mixed_precision}, expected {precision(shape)}"
            )
        trainer.remove_callback(PrinterCallback)  # it would print every update's metrics dict
        trainer.train()
    if len(clock.marks) != updates + 2:
        raise RuntimeError(f"TRL: expected {updates + 1} updates, saw {len(clock.marks) - 1}")
    rows = []
    for (t0, p0), (t1, p1) in zip(clock.marks, clock.marks[1:], strict=False):
        row = {"s": t1 - t0} | {k: p1[k] - p0[k] for k in p0}
        row["update"] = row["s"] - row["generation"] - row["scoring"] - row["gc"]  # advantages, PPO epochs, logging
        rows.append(row)
    return rows[1:]  # the first update is warm-up


# ---------------------------------------------------------------- summary
def summarise(rows_by_repeat: list[list[dict]], batch_size: int) -> dict:
    rows = [r for rep in rows_by_repeat for r in rep]
    s = statistics.median(r["s"] for r in rows)
    out = {
        "s_per_update_median": s,
        "episodes_per_s": batch_size / s,
        "s_per_update_min": min(r["s"] for r in rows),
        "s_per_update_max": max(r["s"] for r in rows),
        "repeat_medians_s": [statistics.median(r["s"] for r in rep) for rep in rows_by_repeat],
        "timed_updates": len(rows),
        "per_update": rows_by_repeat,
    }
    for part in ("generation", "scoring", "update", "gc"):
        if part in rows[0]:
            out[f"{part}_s_median"] = statistics.median(r[part] for r in rows)
    if "gc" in rows[0]:  # diagnostic: TRL's compute alone, without its per-update gc.collect() calls
        out["s_per_update_excl_gc_median"] = statistics.median(r["s"] - r["gc"] for r in rows)
        out["episodes_per_s_excl_gc"] = batch_size / out["s_per_update_excl_gc_median"]
    return out


def print_table(summary: dict) -> None:
    cols = (
        ("generation_s_median", "generation s"),
        ("scoring_s_median", "scoring s"),
        ("update_s_median", "update s"),
        ("gc_s_median", "gc.collect s"),
    )
    head = f"{'implementation':<20} {'episodes/s':>11} {'s/update':>9} " + " ".join(f"{label:>13}" for _, label in cols)
    print("\n" + head + "\n" + "-" * len(head))
    for name, res in summary["results"].items():
        split = " ".join(f"{res[k]:>13.3f}" if k in res else f"{'-':>13}" for k, _ in cols)
        print(f"{name:<20} {res['episodes_per_s']:>11.2f} {res['s_per_update_median']:>9.3f} {split}")
    if "ratio_ours_over_trl" in summary:
        trl = summary["results"]["trl 1.12"]
        print(f"\nours / TRL (episodes/s): {summary['ratio_ours_over_trl']:.2f}x")
        for name, ratio in summary["ratio_over_trl"].items():
            if name != "ours":
                print(f"{name} / TRL: {ratio:.2f}x")
        print(
            f"diagnostic, TRL without its gc.collect() time: {trl['episodes_per_s_excl_gc']:.2f} episodes/s, "
            f"{trl['s_per_update_excl_gc_median']:.3f} s/update; ours / that: {summary['ratio_ours_over_trl_excl_gc']:.2f}x"
        )
    print("medians over", ", ".join(f"{n}: {r['timed_updates']} timed updates" for n, r in summary["results"].items()))
    print("split columns are medians of each phase (they need not add up to the median s/update); ours: update = PPO epochs")
    if "trl 1.12" in summary["results"]:
        print(
            "TRL (instrumented, see trl_phase_timers): update = the rest of the update (advantages, PPO epochs, logging) minus gc.collect"
        )


def environment(device: torch.device, trl_module) -> dict:
    import accelerate
    import transformers

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "accelerate": accelerate.__version__,
        "trl": trl_module.__version__ if trl_module else None,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
    return env


# ---------------------------------------------------------------- compute floor
# Dense bf16 tensor-core peaks from NVIDIA's datasheets (SXM parts), for model FLOPs utilisation (MFU).
PEAK_BF16_FLOPS = {"H100 PCIe": 756e12, "H100": 989.4e12, "H200": 989.4e12}


def model_flops_per_update(shape: Shape, models: Models) -> dict[str, float]:
    """Weight-matmul FLOPs of one update of ours (2 per multiply-add; attention scores are left out: under 1% at these
    lengths). Generation: the policy over prompt + response; scoring: policy + value (all positions, full logits),
    reference (LM head on the response positions) and reward; update: forward + backward (3x forward) of policy and
    value per PPO epoch."""

    def body(model) -> int:  # everything but the embedding lookups
        return sum(p.numel() for n, p in model.named_parameters() if not n.endswith(("wte.weight", "wpe.weight")))

    b, tq, tr = shape.batch_size, shape.prompt_length, shape.response_length
    t, head = tq + tr, models.policy.config.vocab_size * shape.n_embd
    policy, value = body(models.policy), body(models.value)
    flops = {
        "generation": 2 * b * (policy * (t - 1) + head * tr),
        "scoring": 2 * b * (t * (2 * policy + head + 2 * value) + (tr + 1) * head),
        "update": PPO["ppo_epochs"] * 6 * b * t * (policy + head + value),
    }
    return flops | {"total": sum(flops.values())}


def gemm_flops_per_s(shape: Shape, device: torch.device, repeats: int = 20) -> float:
    """Measured matmul rate at the models' largest GEMM (the MLP's d -> 4d over one rollout batch), in the run's dtype:
    what this device can reach at this shape, the floor the PPO update is held against."""
    dtype = torch.bfloat16 if shape.bf16 and device.type == "cuda" else torch.float32
    m, k = shape.batch_size * (shape.prompt_length + shape.response_length), shape.n_embd
    a = torch.randn(m, k, device=device, dtype=dtype)
    w = torch.randn(k, 4 * k, device=device, dtype=dtype)
    for _ in range(3):
        a @ w
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ w
    sync(device)
    return 2 * m * k * 4 * k * repeats / (time.perf_counter() - t0)


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for part, peak in PEAK_BF16_FLOPS.items() if all(w in name for w in part.split())), None)


def add_utilisation(summary: dict, flops: dict, gemm_rate: float, peak: float | None) -> None:
    """Each implementation's achieved model FLOP/s (ours' FLOP count: the same algorithm and shapes), as a share of the
    measured GEMM rate and of the datasheet peak."""
    summary["model_flops_per_update"] = flops
    summary["gemm_flops_per_s"] = gemm_rate
    summary["peak_bf16_flops_per_s"] = peak
    for res in summary["results"].values():
        res["model_flops_per_s"] = flops["total"] / res["s_per_update_median"]
        res["share_of_gemm_rate"] = res["model_flops_per_s"] / gemm_rate
        res["mfu"] = res["model_flops_per_s"] / peak if peak else None


def print_utilisation(summary: dict) -> None:
    flops, rate, peak = summary["model_flops_per_update"], summary["gemm_flops_per_s"], summary["peak_bf16_flops_per_s"]
    scale, unit = (1e12, "TFLOP") if rate >= 1e12 else (1e9, "GFLOP")
    split = ", ".join(f"{k} {v / scale:.2f}" for k, v in flops.items() if k != "total")
    print(
        f"\nmodel FLOPs per update: {flops['total'] / scale:.2f} {unit} ({split}); measured GEMM rate {rate / scale:.1f} {unit}/s"
    )
    print(f"compute floor at that rate: {flops['total'] / rate:.3f} s/update")
    for name, res in summary["results"].items():
        mfu = f", MFU {100 * res['mfu']:.1f}% of the {peak / 1e12:.0f} TFLOP/s bf16 peak" if res["mfu"] else ""
        share = 100 * res["share_of_gemm_rate"]
        print(f"{name:<20} {res['model_flops_per_s'] / scale:8.2f} {unit}/s = {share:.1f}% of the GEMM rate{mfu}")


# ---------------------------------------------------------------- main
def parse_args(argv=None) -> argparse.Namespace:
    from pipeline.errors import OneLineParser, positive_int

    p = OneLineParser(prog="python -m bench.ppo_throughput", description=__doc__.splitlines()[0])
    p.add_argument("--updates", type=positive_int, default=5, help="timed updates per repeat (after 1 warm-up update)")
    p.add_argument("--repeats", type=positive_int, default=5, help="fresh trainers per implementation, interleaved")
    p.add_argument("--gpu", action="store_true", help="GPT-2-124M shape, batch 64, 16+48 tokens, bf16")
    p.add_argument("--tiny", action="store_true", help="smoke sizes (keeps --gpu's bf16)")
    p.add_argument("--skip-trl", action="store_true", help="time ours only")
    p.add_argument(
        "--ours-variants",
        nargs="+",
        choices=tuple(OURS_VARIANTS),
        default=["default"],
        help="implementation choices of ours to time, each a row of the same run ('default' is the row 'ours')",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch CPU threads for both (default: 1 on CPU, see THREADS_WHY; torch's default with CUDA)",
    )
    p.add_argument("--out", type=Path, default=OUT_DIR / "ppo_throughput.json")
    return p.parse_args(argv)


def pick_shape(args) -> Shape:
    if args.tiny:
        return replace(TINY_SHAPE, bf16=args.gpu)
    return GPU_SHAPE if args.gpu else CPU_SHAPE


def main(argv=None) -> dict:
    args = parse_args(argv)
    trl_module = None if args.skip_trl else use_trl112()
    shape, device = pick_shape(args), pick_device()
    threads = args.threads or (1 if device.type == "cpu" else torch.get_num_threads())
    torch.set_num_threads(threads)  # same for both implementations: they run in this one process
    if args.gpu and device.type != "cuda":
        print("ppo_throughput: --gpu without CUDA: running the GPU settings on the CPU", file=sys.stderr)
    tokenizer = build_tokenizer(shape.vocab_size)
    models = build_models(shape, tokenizer)
    prompts = make_prompts(shape, (args.updates + 1) * shape.batch_size)
    runners = {
        ("ours" if v == "default" else f"ours {v}"): functools.partial(run_ours, **OURS_VARIANTS[v]) for v in args.ours_variants
    }
    runners |= {} if args.skip_trl else {"trl 1.12": run_trl}

    timings: dict[str, list] = {name: [] for name in runners}
    for rep in range(args.repeats):
        order = list(runners) if rep % 2 == 0 else list(reversed(runners))  # alternate who goes first
        for name in order:
            t0 = time.perf_counter()
            timings[name].append(runners[name](models.copy(), tokenizer, prompts, shape, args.updates, device))
            print(f"repeat {rep + 1}/{args.repeats} {name}: {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
            release(device)

    summary = {
        "benchmark": "ppo_throughput",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(["python -m bench.ppo_throughput", *(sys.argv[1:] if argv is None else argv)]),
        "mode": ("gpu" if args.gpu else "cpu") + ("-tiny" if args.tiny else ""),
        "settings": asdict(shape)
        | PPO
        | {
            "updates_timed_per_repeat": args.updates,
            "warmup_updates_per_repeat": 1,
            "repeats": args.repeats,
            "torch_threads": threads,
            "torch_threads_why": THREADS_WHY if args.threads is None and device.type == "cpu" else None,
        },
        "environment": environment(device, trl_module),
        "patches": PATCHES if trl_module else {"ours": PATCHES["ours"]},
        "results": {name: summarise(rows, shape.batch_size) for name, rows in timings.items()},
    }
    if "trl 1.12" in summary["results"]:  # every row of ours against TRL in the same run, variants included
        trl = summary["results"]["trl 1.12"]
        summary["ratio_over_trl"] = {
            n: r["episodes_per_s"] / trl["episodes_per_s"] for n, r in summary["results"].items() if n != "trl 1.12"
        }
        if "ours" in summary["results"]:
            summary["ratio_ours_over_trl"] = summary["ratio_over_trl"]["ours"]
            summary["ratio_ours_over_trl_excl_gc"] = summary["results"]["ours"]["episodes_per_s"] / trl["episodes_per_s_excl_gc"]
    add_utilisation(summary, model_flops_per_update(shape, models), gemm_flops_per_s(shape, device), peak_flops(device))
    print_table(summary)
    print_utilisation(summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")
    return summary


if __name__ == "__main__":
    main()

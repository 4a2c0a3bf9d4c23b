"""Stage grpo@<beta>: GRPO (TRL's GRPOTrainer) against the proxy reward model, beside PPO.

    python -m stages.grpo --kl-coef 0.03     # one curve (dvc.yaml runs one per curves.grpo_kl_coef)
Online, like PPO: the same train prompts (data/prompts), reference (models/base), reward (models/reward,
scored and normalised as PPO scores it) and sampling (the sampling section); the KL coefficient is the knob. Writes models/grpo/kl<beta>/ and results/curves/grpo/kl<beta>/
(eval.csv, eval_samples.jsonl, live/ under TRL's metric names, metrics.json, timing.json).
"""

from __future__ import annotations

from pipeline.stage import run_stage
from stages.online import run_online


def main(argv: list[str] | None = None) -> None:
    run_online("grpo", argv)


if __name__ == "__main__":
    run_stage(main)

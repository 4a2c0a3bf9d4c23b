"""Stage rloo@<beta>: RLOO (TRL's RLOOTrainer) against the proxy reward model, beside PPO.

    python -m stages.rloo --kl-coef 0.03     # one curve (dvc.yaml runs one per curves.rloo_kl_coef)
Online, like PPO: the same train prompts (data/prompts), reference (models/base), reward (models/reward,
scored and normalised as PPO scores it) and sampling (the sampling section); the KL coefficient is the knob. Writes models/rloo/kl<beta>/ and results/curves/rloo/kl<beta>/
(eval.csv, eval_samples.jsonl, live/ under TRL's metric names, metrics.json, timing.json).
"""

from __future__ import annotations

from pipeline.stage import run_stage
from stages.online import run_online


def main(argv: list[str] | None = None) -> None:
    run_online("rloo", argv)


if __name__ == "__main__":
    run_stage(main)

"""Errors that stop a stage with one line (see pipeline.stage.run_stage)."""

from __future__ import annotations

import math


class NumericalError(RuntimeError):
    """NaN or Inf in a training quantity; the message names the step and the quantity."""


def finite_loss_callback():
    """A transformers TrainerCallback that stops HF-Trainer training (pretraining, reward model) on a NaN/Inf loss."""
    from transformers import TrainerCallback

    class FiniteLoss(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            for key in ("loss", "eval_loss"):
                value = (logs or {}).get(key)
                if value is not None and not math.isfinite(value):
                    raise NumericalError(f"non-finite {key} at step {state.global_step}; lower the learning rate")

    return FiniteLoss()

"""Errors that stop a stage with one line (see pipeline.stage.run_stage)."""

from __future__ import annotations

import argparse
import errno
import math
import sys
from collections.abc import Callable
from typing import NoReturn


class ConfigError(ValueError):
    """A one-line, user-facing error about params or inputs."""


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


# a full disk is an environment problem with a known fix, not a bug: one line, like a bad input
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full_message(err: OSError) -> str | None:
    """The one-line message for a write that failed because the disk (or quota) is full; None for any other OSError."""
    if err.errno not in DISK_FULL:
        return None
    return f"no space left on the device writing {err.filename or 'an output'}; free disk space and rerun"


# ---------------------------------------------------------------- command-line tools
class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr with exit code 2 (argparse's own prints the usage block first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def run_cli(main: Callable[[], int | None]) -> NoReturn:
    """Run a command-line main(); a ConfigError (bad params, missing input) becomes one line on stderr and exit code 2."""
    try:
        code = main()
    except (ConfigError, NumericalError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        if (message := disk_full_message(err)) is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)

"""Errors that stop a stage with one line (see pipeline.stage.run_stage)."""

from __future__ import annotations

import argparse
import errno
import math
import re
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


# a full disk, a quota or a file-size limit (`ulimit -f`: Python ignores SIGXFSZ, so the write fails with EFBIG) is an
# environment problem with a known fix, not a bug: one line, like a bad input
WRITE_LIMITS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EFBIG: "the file grew past this process's file-size limit (`ulimit -f`)",
}
_FIX = {errno.EFBIG: "raise the limit (`ulimit -f unlimited`) and rerun"}


def disk_full_message(err: OSError) -> str | None:
    """The one-line message for a write that failed on a full disk, a quota or a file-size limit; None for any other OSError."""
    if err.errno not in WRITE_LIMITS:
        return None
    fix = _FIX.get(err.errno, "free disk space and rerun")
    return f"{WRITE_LIMITS[err.errno]} writing {err.filename or 'an output'}; {fix}"


_OS_ERROR_CODE = re.compile(r"os error (\d+)|code: (\d+)")


def write_error_message(err: BaseException) -> str | None:
    """One line for a failed write or a damaged file that libraries report in their own exception types: safetensors'
    SafetensorError (its Rust I/O error carries the errno as text) and torch.save's RuntimeError; None for anything else."""
    if isinstance(err, OSError):
        return disk_full_message(err)
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    if type(err).__name__ == "SafetensorError":
        match = _OS_ERROR_CODE.search(str(err))
        code = int(match.group(1) or match.group(2)) if match else None
        if code in WRITE_LIMITS:
            return disk_full_message(OSError(code, text, "a safetensors file"))
        if "serializ" in text.lower() and "deserializ" not in text.lower():
            return f"writing a safetensors file failed ({text}); check free disk space and rerun"
        return f"a safetensors file is damaged or truncated ({text}); delete it (or its model folder) and rerun the stage that writes it"
    if isinstance(err, RuntimeError) and "PytorchStreamWriter failed writing" in text:
        return f"torch.save could not write a file ({text}); free disk space and rerun"
    return None


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
    except Exception as err:  # noqa: BLE001 - only the write failures write_error_message knows are mapped
        if (message := write_error_message(err)) is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)

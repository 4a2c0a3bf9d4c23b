"""The common entry point of every stage: one-line errors, logging, wall time."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

from pipeline.errors import ConfigError, NumericalError, OneLineParser, write_error_message
from pipeline.io import setup_logging


def parse_knob(argv: list[str] | None, method: str, flag: str, allowed: list[float], key: str) -> float:
    """A curve stage's KL knob from the command line; a usage error or a value not in params is one line and exit code 2."""
    parser = OneLineParser(prog=f"python -m stages.{method}", description=f"one {method} curve: {flag} <one of {key}>")
    parser.add_argument(flag, type=float, required=True)
    value = getattr(parser.parse_args(argv), flag.lstrip("-").replace("-", "_"))
    if value not in allowed:
        raise ConfigError(
            f"stages.{method}: {flag} {value} is not in {key} {allowed}; add it there (dvc.yaml runs one stage per value)"
        )
    # the params' own value, not the parsed float: an int knob names its folder kl1 (as dvc.yaml renders it), not kl1.0
    return allowed[allowed.index(value)]


def _exit_on_sigterm(signum, frame) -> NoReturn:
    # SIGTERM's default action ends the process at once, skipping the `finally` of atomic_output and leaving its
    # hidden temporary (.outputs.tmp-*) behind; as an exception it unwinds like Ctrl-C and every temporary is removed
    raise SystemExit(128 + signum)


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main(); a ConfigError, a NumericalError or a failed write (full disk, file-size limit, a damaged
    safetensors file) becomes one line on stderr and exit code 2. Partial outputs are removed by atomic_output as the
    error unwinds, also on SIGTERM."""
    setup_logging()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        main()
    except (ConfigError, NumericalError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:  # noqa: BLE001 - only the write failures write_error_message knows are mapped
        message = write_error_message(err)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)

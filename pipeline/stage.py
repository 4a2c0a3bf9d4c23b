"""The common entry point of every stage: one-line errors, logging, wall time."""

from __future__ import annotations

import sys
from collections.abc import Callable

from pipeline.errors import ConfigError, NumericalError, OneLineParser, disk_full_message
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
    return value


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main(); a ConfigError, a NumericalError or a full disk becomes one line on stderr and exit code 2."""
    setup_logging()
    try:
        main()
    except (ConfigError, NumericalError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:
        message = disk_full_message(err)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)

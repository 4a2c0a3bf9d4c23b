"""The common entry point of every stage: one-line errors, logging, wall time."""

from __future__ import annotations

import sys
from collections.abc import Callable

from pipeline.config import ConfigError
from pipeline.errors import NumericalError
from pipeline.io import setup_logging


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main(); a ConfigError becomes one line on stderr and exit code 2."""
    setup_logging()
    try:
        main()
    except (ConfigError, NumericalError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)

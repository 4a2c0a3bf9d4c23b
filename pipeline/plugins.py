"""Plug-ins named in params as 'module:function' (gold scorers, metrics): one loader, one-line errors."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from pipeline.errors import ConfigError


def load_callable(spec: str, key: str, hint: str = "") -> Callable:
    """The function a 'module:function' spec names; ConfigError naming the params key if it cannot be loaded."""
    module_name, _, attr = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise ConfigError(f"{key}: cannot load plug-in {spec!r} ({type(err).__name__}: {err})") from None
    if not callable(fn):
        raise ConfigError(f"{key}: plug-in {spec!r} is not callable{hint}")
    return fn

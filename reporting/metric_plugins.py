"""Plug-in metrics (params: evaluate.metrics.<name>.fn = 'module:function'), registered next to the built-ins.

Imported by stages/evaluate.py only (dvc.yaml lists this file among evaluate's deps), so a plug-in's code reruns
evaluate and report, never training. Its names are checked against the built-ins and against the keys
results/summary.json uses itself, so a plug-in can neither change what a known column means nor overwrite one.
"""

from __future__ import annotations

from collections.abc import Mapping

from metrics import METRICS, register
from pipeline.config import MetricPluginConfig
from pipeline.errors import ConfigError
from pipeline.plugins import load_callable
from reporting.summary import reserved_keys


def register_plugins(plugins: Mapping[str, MetricPluginConfig]) -> list[str]:
    """Register evaluate.metrics' plug-ins next to the built-ins; returns the names marked headline."""
    for name, cfg in plugins.items():
        if name in METRICS:  # a plug-in silently replacing a built-in would change what a known column means
            raise ConfigError(f"evaluate.metrics.{name}: a built-in metric has this name; rename the plug-in")
        if name in reserved_keys():  # in summary.json it would overwrite ppo.curve1.gold or the knob's value
            raise ConfigError(f"evaluate.metrics.{name}: results/summary.json uses this key itself; rename the plug-in")
        fn = load_callable(cfg.fn, f"evaluate.metrics.{name}.fn")
        register(name, fn, level=cfg.level, higher_is_better=cfg.higher_is_better, description=cfg.description)
    return [name for name, cfg in plugins.items() if cfg.headline]

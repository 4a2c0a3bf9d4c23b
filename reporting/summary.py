"""The DVC metrics file (results/summary.json): a run's headline numbers, keyed by role so that any sweep diffs.

A key names what a number measures, never a knob value: `ppo.curve1` is the first curve of `curves.ppo_kl_coef`
whatever its coefficient, and the coefficient is a value (`ppo.curve1.kl_coef`). `dvc metrics diff` and
`dvc exp diff` between two KL lists then compare the same keys, and the per-method matched-KL numbers compare
across any sweep, even of the number of curves. Layout (means only; intervals stay in results/metrics.json):

    base.gold, base.perplexity, reward_model.accuracy, reward_model.accuracy_gold
    <method>.gold_at_kl<k>   gold where the method's best curve at that budget first reaches k nats (k in KL_BUDGETS)
    <method>.best_gold, <method>.best_gold_kl   the highest gold any of its evaluation points reached, and that KL
    <method>.curve<i>.{<knob>, gold, proxy, kl}  its i-th curve (params order): the knob and the final policy
    extra.<policy>.{gold, proxy, kl}   a policy of generate.extra_policies
where <method> is ppo, dpo, rloo, grpo or best_of_n (best-of-n has no curves: its matched-KL numbers only), and every
policy also carries the headline plug-in metrics (evaluate.metrics.<name>.headline) under their own names.
It also registers evaluate.metrics' plug-ins, whose names must not take a key the layout uses. Written by
stages/evaluate.py, and imported only by it and the report layer, so a new layout reruns neither training
nor generation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from metrics import METRICS, register
from pipeline.config import CURVE_KNOBS, MetricPluginConfig, curve_name
from pipeline.errors import ConfigError
from pipeline.plugins import load_callable
from reporting.matched import best_gold_point, gold_at_kl

# 1 to 12 nats spans best-of-64's analytic KL (~3) to the middle of a PPO run; the report's table also has 24, which
# few curves reach: a key that most runs leave out only adds an empty column to `dvc exp show`
KL_BUDGETS = (1, 3, 6, 12)
# short key -> the registered metric whose mean it is (proxy: base-policy standard units, comparable across runs)
POLICY_KEYS = {"gold": "gold_reward", "proxy": "proxy_reward_norm", "kl": "kl"}
BEST_OF_N = "best_of_n"
EXTRA = "extra"
# the reference policy's KL to itself is 0 and its win rate against itself 1/2: constants, not columns
# (readers of the DVC metrics file, such as reporting.compare, fill them back in)
REFERENCE_CONSTANTS = {"kl": 0.0, "win_rate_vs_base": 0.5}


def reserved_keys() -> set[str]:
    """Keys the layout itself uses inside a policy's or curve's entry: a headline plug-in may not take one."""
    return {*POLICY_KEYS, "perplexity", *(knob_key(m) for m in CURVE_KNOBS)}


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


def knob_key(method: str) -> str:
    """The name of a method's KL knob as its curves carry it: 'kl_coef' (PPO, RLOO, GRPO) or 'beta' (DPO)."""
    return CURVE_KNOBS[method].removeprefix(f"{method}_")


def curve_role(position: int) -> str:
    """A curve's key under its method: its 1-based position in the method's params list."""
    return f"curve{position + 1}"


def curve_roles(curves: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """{curve name: (method, role)} from metrics.json's `curves` section, which lists the curves in run order."""
    seen: dict[str, int] = {}
    roles = {}
    for name, curve in curves.items():
        method = str(curve["method"])
        roles[name] = (method, curve_role(seen.get(method, 0)))
        seen[method] = seen.get(method, 0) + 1
    return roles


def _mean(stat: Any) -> float | None:
    value = stat.get("mean") if isinstance(stat, Mapping) else stat
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def policy_means(stats: Mapping[str, Any], headline: Iterable[str] = (), reference: bool = False) -> dict[str, float]:
    """A policy's headline means under their short keys. The reference policy keeps its gold only: its KL to itself is
    0, and its proxy is about 0 by construction (base-policy standard units), so neither tells two runs apart."""
    names = {short: name for short, name in POLICY_KEYS.items() if not reference or short == "gold"}
    names |= {name: name for name in headline}
    means = {short: _mean(stats.get(name)) for short, name in names.items()}
    return {k: v for k, v in means.items() if v is not None}


def matched_kl(points: pd.DataFrame) -> dict[str, float]:
    """A method's gold at each KL budget (the highest of its curves there) and its best gold point with that point's KL.

    points: the method's frontier rows (every curve's evaluation points, final-policy rows left out). Taking the best
    curve per budget makes a number that exists whatever the knobs swept; a budget no curve reaches is left out.
    """
    out: dict[str, float] = {}
    curves = [rows for _, rows in points.groupby("curve", sort=False)]
    for k in KL_BUDGETS:
        golds = [v["gold_reward"] for v in (gold_at_kl(rows, k) for rows in curves) if v is not None]
        if golds:
            out[f"gold_at_kl{k}"] = max(golds)
    if (best := best_gold_point(points)) is not None:
        out |= {"best_gold": best["gold_reward"], "best_gold_kl": best["kl"]}
    return out


def summary_metrics(full: Mapping[str, Any], frontier: pd.DataFrame, headline: Iterable[str] = ()) -> dict[str, Any]:
    """The DVC metrics of a run from its results/metrics.json and results/frontier.csv (see the module docstring).

    headline: registered metric names whose means every policy adds under their own names (headline plug-ins).
    """
    headline = tuple(headline)
    policies = {str(k): v for k, v in (full.get("policies") or {}).items() if isinstance(v, Mapping)}
    curves = full.get("curves") or {}
    out: dict[str, Any] = {"base": policy_means(policies.get("base", {}), headline, reference=True)}
    if (ppl := (full.get("base_policy") or {}).get("perplexity")) is not None:
        out["base"]["perplexity"] = float(ppl)
    rm = full.get("reward_model") or {}
    out["reward_model"] = {k: float(rm[k]) for k in ("accuracy", "accuracy_gold") if rm.get(k) is not None}
    on_curves = frontier[frontier["method"] != "policy"]
    for method in [*CURVE_KNOBS, BEST_OF_N]:
        rows = on_curves[on_curves["method"] == method]
        if not rows.empty and rows["gold_reward"].notna().any():  # real labels: no gold, no matched-KL numbers
            out.setdefault(method, {}).update(matched_kl(rows))
    for name, (method, role) in curve_roles(curves).items():
        # the knob as params.yaml holds it (an int stays an int): as_policies names the curve from it
        entry = {knob_key(method): curves[name]["knob"]} | policy_means(policies.get(name, {}), headline)
        out.setdefault(method, {})[role] = entry
    extras = {n: policy_means(s, headline) for n, s in policies.items() if n != "base" and n not in curves}
    out[EXTRA] = {n: means for n, means in extras.items() if means}
    return {k: v for k, v in out.items() if v}


def as_policies(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The per-policy view of a summary.json, as results/metrics.json lays it out (what reporting.compare reads):
    {"policies": {name: {metric: mean}}, "curves": {name: {"method", "knob", "role"}}, "reward_model": {...}}."""
    metric = {short: name for short, name in POLICY_KEYS.items()}
    means = lambda entry, skip: {metric.get(k, k): v for k, v in entry.items() if k not in skip}  # noqa: E731
    policies = {"base": means(summary.get("base") or {}, {"perplexity"})}
    curves: dict[str, dict[str, Any]] = {}
    for method in CURVE_KNOBS:
        for role, entry in (summary.get(method) or {}).items():
            if isinstance(entry, Mapping) and role.startswith("curve") and knob_key(method) in entry:
                knob = entry[knob_key(method)]
                name = curve_name(method, knob)
                curves[name] = {"method": method, "knob": knob, "role": f"{method}.{role}"}
                policies[name] = means(entry, {knob_key(method)})
    policies |= {name: means(entry, set()) for name, entry in (summary.get(EXTRA) or {}).items()}
    return {"policies": policies, "curves": curves, "reward_model": dict(summary.get("reward_model") or {})}

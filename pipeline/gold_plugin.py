"""What a gold plug-in (`annotator.gold: module:function`) returns, checked once at the boundary.

A plug-in is user code: it may return ints, numpy scalars or an array, too few scores, NaN or values outside
[-1, 1]. Numbers are coerced to float (an int score is a fine score); anything else stops the stage with one line
naming the plug-in, instead of a TypeError deep in the annotator or a NaN label.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable

from pipeline.errors import ConfigError


def checked_scores(spec: str, n_texts: int, scores) -> list[float]:
    """`scores` as a list of n_texts floats in [-1, 1], or a ConfigError naming the plug-in and what is wrong."""

    def refuse(problem: str) -> ConfigError:
        return ConfigError(f"annotator.gold: plug-in {spec!r} returned {problem}; it must return one number in [-1, 1] per text")

    if hasattr(scores, "tolist"):  # numpy arrays, torch tensors
        scores = scores.tolist()
    if isinstance(scores, str | bytes | dict) or not hasattr(scores, "__len__") or not hasattr(scores, "__iter__"):
        raise refuse(f"a {type(scores).__name__}, not a list")
    if len(scores) != n_texts:
        raise refuse(f"{len(scores)} scores for {n_texts} texts")
    out = []
    for i, value in enumerate(scores):
        # bool is an int to Python, but True as a score is a bug in the plug-in, not a judgement
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise refuse(f"{value!r} ({type(value).__name__}) at index {i}, not a number")
        value = float(value)
        if not math.isfinite(value) or not -1.0 <= value <= 1.0:
            raise refuse(f"{value} at index {i}")
        out.append(value)
    return out


def checked_plugin(fn: Callable, spec: str) -> Callable:
    """`fn` wrapped so that every call's scores pass checked_scores; attributes such as `reads_prompts` are kept."""

    @functools.wraps(fn)
    def scorer(texts, *args, **kwargs) -> list[float]:
        return checked_scores(spec, len(texts), fn(texts, *args, **kwargs))

    return scorer

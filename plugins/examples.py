"""An example plug-in metric (README: Adding a metric). Enable it in params.yaml:

evaluate:
  metrics:
    response_chars: {fn: "plugins.examples:response_chars", higher_is_better: false, headline: true}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def response_chars(record: Mapping[str, Any]) -> float:
    """response length in characters (tokens hide how long a BPE-merged response reads)"""
    return float(len(record["response"]))

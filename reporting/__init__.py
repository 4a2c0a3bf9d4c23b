"""Report layer: reads the pipeline's saved results and writes REPORT.md, its figures and cross-experiment comparisons.

Nothing here trains or samples; every number comes from `results/` (see `reporting.data`).
"""

import pipeline  # noqa: E402, F401  (`python -m reporting.study` / `.compare`: pins numpy's kernels before its import)

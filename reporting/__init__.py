"""Report layer: reads the pipeline's saved results and writes REPORT.md, its figures and cross-experiment comparisons.

Nothing here trains or samples; every number comes from `results/` (see `reporting.data`).
"""

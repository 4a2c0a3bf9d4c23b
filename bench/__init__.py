"""Benchmarks of rlhf-bench (run each as `python -m bench.<name>`); outputs go to bench/out/ (git-ignored)."""

import pipeline  # noqa: F401, E402  (pins the CPU kernels before torch computes: pipeline/__init__.py)

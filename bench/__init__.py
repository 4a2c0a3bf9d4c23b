"""Benchmarks of rlhf-bench (run each as `python -m bench.<name>`); outputs go to bench/out/ (git-ignored)."""

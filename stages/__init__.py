"""DVC stages (`python -m stages.<name>`); importing the pipeline package first pins the CPU kernels (pipeline/__init__.py)."""

import pipeline  # noqa: F401

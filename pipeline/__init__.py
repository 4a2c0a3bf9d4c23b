"""rlhf-bench's library: data, models, the gold and its annotator, reward models, I/O.

Importing it pins torch's and numpy's CPU vector kernels to AVX2 before either computes anything (`pin_cpu_kernels`):
the stages, the benchmarks and the tests all import it first.
"""

from __future__ import annotations

import os
import platform

# torch's own vector kernels (softmax, exp, attention, reductions) and numpy's are compiled for several instruction
# sets and picked at run time, and AVX-512 ones round differently from AVX2 ones: on an AVX-512 machine the committed
# run's pretraining loss moved in the 4th digit, RL made another run of it, and numpy's sums moved the last digit of
# bootstrap intervals (bench/RESULTS.md, *Reproducible across CPUs*). Pinned to AVX2, the widest set every x86-64
# machine of the last decade has, that machine reproduced the committed run byte for byte. MKL's matrix products are
# left to MKL: pinning them too (MKL_CBWR=AVX2) changed the bits.
TORCH_PIN = {"ATEN_CPU_CAPABILITY": "avx2"}
NUMPY_PIN = {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"}  # numpy >= 2.4's names (an error before)
KERNELS_ENV = "RLHF_BENCH_CPU_KERNELS"  # "native": each library's own choice (other bits on an AVX-512 machine)


def _numpy_version() -> tuple[int, ...]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return tuple(int(part) for part in version("numpy").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return (0,)


def pin_cpu_kernels(
    environ: dict | None = None, machine: str | None = None, numpy_version: tuple[int, ...] | None = None
) -> dict[str, str]:
    """Set the pins not already set (a value the user exported wins) on x86-64, unless RLHF_BENCH_CPU_KERNELS=native;
    returns what it set. torch reads its variable at its first computation and numpy at its import, so this runs when
    the package is imported, before either (numpy is not imported to learn its version)."""
    environ = os.environ if environ is None else environ
    machine = platform.machine() if machine is None else machine
    if environ.get(KERNELS_ENV, "avx2") == "native" or machine.lower() not in ("x86_64", "amd64"):
        return {}
    wanted = TORCH_PIN | (NUMPY_PIN if (numpy_version or _numpy_version()) >= (2, 4) else {})
    pinned = {k: v for k, v in wanted.items() if k not in environ}
    environ.update(pinned)
    return pinned


pin_cpu_kernels()

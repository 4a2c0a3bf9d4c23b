"""Per-stage wall time and peak memory of the pipeline, run through DVC in this workspace.

    python -m bench.pipeline_stages                    # every stage, forced (the default run)
    python -m bench.pipeline_stages --stages prepare base_policy
    python -m bench.pipeline_stages --stages ppo rloo  # every curve of those methods the params ask for
    python -m bench.pipeline_stages --direct           # without DVC (`python -m stages.<name> ...`)
Runs `dvc repro --force --single-item <stage>` for each stage in order, so the outputs and
dvc.lock it leaves are those of a normal run. A method's stage is one run per curve of
params.yaml's `curves` section (ppo@0.01, dpo@0.05, ...). Prints a table (total seconds including
Python start-up, the stage's own seconds from its timing.json, peak RSS of the stage process) and
writes bench/out/pipeline_stages.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import CURVE_KNOBS, Params, curve_results_dir, load_params, rl_curves
from pipeline.errors import OneLineParser

UPSTREAM = ["prepare", "base_policy", "preferences", "reward_model"]
DOWNSTREAM = ["generate", "evaluate", "report"]
STAGES = UPSTREAM + list(CURVE_KNOBS) + DOWNSTREAM
KNOB_FLAG = {"ppo": "--kl-coef", "dpo": "--beta", "rloo": "--kl-coef", "grpo": "--kl-coef"}
OUT = Path("bench/out/pipeline_stages.json")


@dataclass(frozen=True)
class Stage:
    name: str  # DVC's stage name: "generate", "ppo@0.01"
    args: tuple[str, ...]  # the `python -m` command line dvc.yaml runs
    timing: Path  # the stage's own timer


def expand(groups: list[str], params: Params) -> list[Stage]:
    """The stages of `groups` in pipeline order, a method expanded to one stage per curve the params ask for."""

    def single(name: str) -> Stage:
        return Stage(name, (f"stages.{name}",), Path("results") / name / "timing.json")

    curves = [
        Stage(f"{m}@{k}", (f"stages.{m}", KNOB_FLAG[m], str(k)), curve_results_dir(m, k) / "timing.json")
        for m, k in rl_curves(params)
        if m in groups
    ]
    return [single(g) for g in UPSTREAM if g in groups] + curves + [single(g) for g in DOWNSTREAM if g in groups]


def run_stage(stage: Stage, direct: bool) -> dict:
    """Run one stage (under dvc, or directly); wait4 gives the peak RSS of the largest process in its tree."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    cmd = (
        [sys.executable, "-m", *stage.args]
        if direct
        else [str(Path(sys.executable).parent / "dvc"), "repro", "--force", "--single-item", stage.name]
    )
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    total = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stage {stage.name} failed")
    own = json.loads(stage.timing.read_text())["wall_s"] if stage.timing.exists() else None
    return {"stage": stage.name, "total_s": round(total, 1), "stage_s": own, "peak_rss_mib": round(usage.ru_maxrss / 1024)}


def main() -> None:
    parser = OneLineParser(prog="python -m bench.pipeline_stages", description=__doc__.splitlines()[0])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=STAGES, metavar="STAGE", help=f"some of {STAGES}")
    parser.add_argument(
        "--direct", action="store_true", help="run `python -m stages.<name>` without DVC (e.g. on a machine without dvc)"
    )
    args = parser.parse_args()
    rows = [run_stage(s, args.direct) for s in expand(args.stages, load_params())]
    print(f"\n{'stage':<16}{'total s':>9}{'stage s':>9}{'peak MiB':>10}")
    for r in rows:
        print(f"{r['stage']:<16}{r['total_s']:>9}{r['stage_s'] if r['stage_s'] is not None else '-':>9}{r['peak_rss_mib']:>10}")
    total = sum(r["total_s"] for r in rows)
    print(f"{'all':<16}{total:>9.1f}{'':>9}{max(r['peak_rss_mib'] for r in rows):>10}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"rows": rows, "total_s": total, "cpus": os.cpu_count()}, indent=2) + "\n")


if __name__ == "__main__":
    main()

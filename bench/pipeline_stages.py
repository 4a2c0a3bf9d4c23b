"""Per-stage wall time and peak memory of the pipeline, run through DVC in this workspace.

    python -m bench.pipeline_stages                    # every stage, forced (the default run)
    python -m bench.pipeline_stages --stages prepare base_policy
Runs `dvc repro --force --single-item <stage>` for each stage in order, so the outputs and
dvc.lock it leaves are those of a normal run. Prints a table (total seconds including Python
start-up, the stage's own seconds from results/<stage>/timing.json, peak RSS of the stage
process) and writes bench/out/pipeline_stages.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pipeline.errors import OneLineParser

STAGES = ["prepare", "base_policy", "preferences", "reward_model", "ppo", "generate", "evaluate", "report"]
OUT = Path("bench/out/pipeline_stages.json")


def run_stage(stage: str, direct: bool) -> dict:
    """Run one stage (under dvc, or directly); wait4 gives the peak RSS of the largest process in its tree."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    cmd = (
        [sys.executable, "-m", f"stages.{stage}"]
        if direct
        else [str(Path(sys.executable).parent / "dvc"), "repro", "--force", "--single-item", stage]
    )
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    total = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stage {stage} failed")
    timing = Path("results") / stage / "timing.json"
    own = json.loads(timing.read_text())["wall_s"] if timing.exists() else None
    return {"stage": stage, "total_s": round(total, 1), "stage_s": own, "peak_rss_mib": round(usage.ru_maxrss / 1024)}


def main() -> None:
    parser = OneLineParser(prog="python -m bench.pipeline_stages", description=__doc__.splitlines()[0])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=STAGES, metavar="STAGE", help=f"some of {STAGES}")
    parser.add_argument(
        "--direct", action="store_true", help="run `python -m stages.<name>` without DVC (e.g. on a machine without dvc)"
    )
    args = parser.parse_args()
    rows = [run_stage(s, args.direct) for s in args.stages]
    print(f"\n{'stage':<14}{'total s':>9}{'stage s':>9}{'peak MiB':>10}")
    for r in rows:
        print(f"{r['stage']:<14}{r['total_s']:>9}{r['stage_s'] if r['stage_s'] is not None else '-':>9}{r['peak_rss_mib']:>10}")
    total = sum(r["total_s"] for r in rows)
    print(f"{'all':<14}{total:>9.1f}{'':>9}{max(r['peak_rss_mib'] for r in rows):>10}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"rows": rows, "total_s": total, "cpus": os.cpu_count()}, indent=2) + "\n")


if __name__ == "__main__":
    main()

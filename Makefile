# mer-zoo: `make demo` runs the whole job on synthetic data, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
DEMO_SONGS ?= 120

.PHONY: install demo test bench clean

install: $(STAMP)

# Torch is installed first and pinned (a bare `torch` would pull a multi-GB CUDA build);
# override with e.g. `make install TORCH='torch==2.5.1'`.
$(STAMP): pyproject.toml plugins/mer-zoo-example/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip install -q -e plugins/mer-zoo-example
	touch $(STAMP)

demo: install
	$(BIN)/mer-zoo demo-data $(DEMO_DIR)/deam --songs $(DEMO_SONGS) --seed 0

test: install
	$(BIN)/python -m pytest -q

bench: install
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(DEMO_DIR) runs features.h5 features.h5.partial .pytest_cache build *.egg-info

# mer-zoo: `make demo` runs the whole job on synthetic data, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
DEMO_SONGS ?= 120
# Optional extras: mkl = Intel MKL's FFT for the mel (x86-64 only; `make install EXTRAS=dev` skips it)
EXTRAS ?= dev,mkl

.PHONY: install demo test lint bench clean

install: $(STAMP)

# Torch is installed first and pinned (a bare `torch` would pull a multi-GB CUDA build);
# override with e.g. `make install TORCH='torch==2.5.1'`.
$(STAMP): pyproject.toml plugins/mer-zoo-example/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	$(BIN)/python -m pip install -q -e plugins/mer-zoo-example
	touch $(STAMP)

demo: install
	$(BIN)/mer-zoo demo-data $(DEMO_DIR)/deam --songs $(DEMO_SONGS) --seed 0
	rm -rf $(DEMO_DIR)/features.h5 $(DEMO_DIR)/features.h5.partial $(DEMO_DIR)/runs
	$(BIN)/mer-zoo build-features --root $(DEMO_DIR)/deam --out $(DEMO_DIR)/features.h5 --no-progress
	$(BIN)/mer-zoo info $(DEMO_DIR)/features.h5
	$(BIN)/mer-zoo train --model mean --features $(DEMO_DIR)/features.h5 --out $(DEMO_DIR)/runs
	$(BIN)/mer-zoo train --model cnn_small --features $(DEMO_DIR)/features.h5 --out $(DEMO_DIR)/runs --epochs 20
	$(BIN)/mer-zoo train --model ridge --features $(DEMO_DIR)/features.h5 --out $(DEMO_DIR)/runs
	$(BIN)/mer-zoo train --model mean --task static --features $(DEMO_DIR)/features.h5 --out $(DEMO_DIR)/runs
	$(BIN)/mer-zoo train --model ridge --task static --features $(DEMO_DIR)/features.h5 --out $(DEMO_DIR)/runs
	$(BIN)/mer-zoo predict $(DEMO_DIR)/runs/cnn_small-* $(DEMO_DIR)/deam/DEAM_audio/MEMD_audio \
		--out $(DEMO_DIR)/predictions.csv --overwrite --no-progress
	$(BIN)/mer-zoo predict $(DEMO_DIR)/runs/cnn_small-* $$(ls $(DEMO_DIR)/deam/DEAM_audio/MEMD_audio/*.mp3 | head -n 2) \
		--out $(DEMO_DIR)/two.csv --overwrite --no-progress --plot $(DEMO_DIR)/va.png
	$(BIN)/mer-zoo compare $(DEMO_DIR)/runs/* --markdown $(DEMO_DIR)/leaderboard.md

# The suite: lint and format check (ruff), types (mypy on mer_zoo/), then the tests.
test: install lint
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check mer_zoo tests benchmarks plugins
	$(BIN)/ruff format --check mer_zoo tests benchmarks plugins
	$(BIN)/mypy

bench: install
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done
	$(BIN)/python benchmarks/bench_dataset.py --batches --items 3000 --repeats 7

clean:
	rm -rf $(DEMO_DIR) runs features.h5 features.h5.partial .pytest_cache build *.egg-info

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

.PHONY: install demo demo-embeddings test lint bench browser clean

install: $(STAMP)

# The shipped pretrained model, mer-zoo[embeddings], for its tests and `make demo-embeddings`: as
# `pip install "mer-zoo[embeddings]"` would install it, except that vibenet's own pin of typer (<0.17,
# for its CLI, which mer-zoo never runs) is left out so the venv keeps the project's typer.
EMBEDDINGS = $(BIN)/python -m pip install -q "onnxruntime>=1.17" "onnx>=1.15" && \
	$(BIN)/python -m pip install -q --no-deps "vibenet>=0.1"

# Torch is installed first and pinned (a bare `torch` would pull a multi-GB CUDA build);
# override with e.g. `make install TORCH='torch==2.5.1'`.
$(STAMP): pyproject.toml plugins/mer-zoo-example/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	$(BIN)/python -m pip install -q -e plugins/mer-zoo-example
	$(EMBEDDINGS)
	touch $(STAMP)

demo: install
	$(BIN)/mer-zoo demo-data $(DEMO_DIR)/deam --songs $(DEMO_SONGS) --seed 0
	rm -rf $(DEMO_DIR)/features.h5 $(DEMO_DIR)/features.h5.partial $(DEMO_DIR)/runs $(DEMO_DIR)/bench
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
	$(BIN)/mer-zoo export $(DEMO_DIR)/runs/cnn_small-* --format onnx --out $(DEMO_DIR)/cnn_small.onnx
	$(BIN)/mer-zoo predict $(DEMO_DIR)/cnn_small.onnx $$(ls $(DEMO_DIR)/deam/DEAM_audio/MEMD_audio/*.mp3 | head -n 2) \
		--out $(DEMO_DIR)/two_onnx.csv --overwrite --no-progress
	$(BIN)/mer-zoo compare $(DEMO_DIR)/runs/* --markdown $(DEMO_DIR)/leaderboard.md
	$(BIN)/mer-zoo bench --features $(DEMO_DIR)/features.h5 --models ridge,cnn_small --tasks window \
		--folds 3 --split group:artist --epochs 3 --out $(DEMO_DIR)/bench
	@echo "bench page: $(DEMO_DIR)/bench/leaderboard.html (open it in a browser)"

# The shipped pretrained embedding (VibeNet's ONNX weights inside its PyPI package, GPL-3.0-or-later) end to end
# on the demo data: build mel + vibenet in one pass, train ridge and the two probes on it, predict two files.
EMB_DIR ?= $(DEMO_DIR)/embeddings
demo-embeddings: install
	test -d $(DEMO_DIR)/deam || $(BIN)/mer-zoo demo-data $(DEMO_DIR)/deam --songs $(DEMO_SONGS) --seed 0
	rm -rf $(EMB_DIR) && mkdir -p $(EMB_DIR)
	$(BIN)/mer-zoo build-features --root $(DEMO_DIR)/deam --out $(EMB_DIR)/features.h5 --no-progress \
		--set mel --set vibenet=hear:module=mer_zoo.features.vibenet_hear
	$(BIN)/mer-zoo info $(EMB_DIR)/features.h5
	$(BIN)/mer-zoo train --model ridge --set vibenet --features $(EMB_DIR)/features.h5 --out $(EMB_DIR)/runs
	$(BIN)/mer-zoo train --model mlp_probe --set vibenet --features $(EMB_DIR)/features.h5 --out $(EMB_DIR)/runs --epochs 20
	$(BIN)/mer-zoo train --model temporal_probe --task dynamic --set vibenet --features $(EMB_DIR)/features.h5 \
		--out $(EMB_DIR)/runs --epochs 20
	$(BIN)/mer-zoo predict $(EMB_DIR)/runs/mlp_probe-* $$(ls $(DEMO_DIR)/deam/DEAM_audio/MEMD_audio/*.mp3 | head -n 2) \
		--out $(EMB_DIR)/two.csv --overwrite --no-progress
	$(BIN)/mer-zoo compare $(EMB_DIR)/runs/*

# The suite: lint and format check (ruff), types (mypy on mer_zoo/), then the tests.
test: install browser lint
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check mer_zoo tests benchmarks plugins
	$(BIN)/ruff format --check mer_zoo tests benchmarks plugins
	$(BIN)/mypy

# The bench page's tests open it in headless Chromium (Debian's `chromium`), installed here when
# absent (as root, or `make test SUDO=sudo`); where it cannot be installed those tests skip.
SUDO ?=
browser:
	@command -v chromium >/dev/null || { command -v apt-get >/dev/null && $(SUDO) apt-get update -q && \
		$(SUDO) apt-get install -y -q chromium; } || echo "chromium not installed: the page tests will skip"

bench: install
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done
	$(BIN)/python benchmarks/bench_dataset.py --batches --items 3000 --repeats 7

clean:
	rm -rf $(DEMO_DIR) runs features.h5 features.h5.partial .pytest_cache build *.egg-info

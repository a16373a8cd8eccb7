# One task runner, used by people and CI alike.
#   make demo   set up, then analyse the bundled sample logs
#   make test   set up, then lint (ruff, mypy) and run the tests
#   make bench  set up, then benchmark the readers (tbparse, pyarrow) and the engine (numpy)
#   make eval   set up, then score gdei's verdicts on the labelled corpus
#   make fuzz   set up, then fuzz every reader through the pipeline (FUZZ_SECONDS each)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
RUN_STAMP := $(VENV)/.installed

FUZZ_SECONDS ?= 60
FUZZ_TARGETS := tensorboard mlflow textlog csv json

.PHONY: demo test lint pytest bench eval fuzz clean samples

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# make demo needs only gdei itself; make test adds the dev tools
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP) $(RUN_STAMP)

demo: $(RUN_STAMP)
	$(BIN)/gdei analyze sample_logs/

lint: $(STAMP)
	$(BIN)/ruff check gdei_cli tests benchmarks sample_logs
	$(BIN)/ruff format --check gdei_cli
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint pytest

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/bench_tensorboard.py
	$(BIN)/python benchmarks/bench_readers.py
	$(BIN)/python benchmarks/bench_scale.py

eval: $(STAMP)
	$(BIN)/python -m tests.eval_corpus

# crashes land in build/fuzz-out (crash-*, timeout-*, oom-*); corpora in build/fuzz/<target>
fuzz: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[fuzz]'
	mkdir -p build/fuzz-out
	for t in $(FUZZ_TARGETS); do \
	  (cd build/fuzz-out && PYTHONPATH=$(CURDIR) $(CURDIR)/$(BIN)/python -m tests.fuzz_main $$t \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=60 -rss_limit_mb=4096) || exit 1; \
	done

samples: $(STAMP)
	$(BIN)/python sample_logs/make_samples.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info

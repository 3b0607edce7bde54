# Two commands do everything: `make run` and `make test`. Both build .venv from
# nothing (Python 3.10, pinned by constraints.txt) and reinstall only when
# pyproject.toml or constraints.txt changed.
VENV    := .venv
PYTHON  := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
ARGS    ?=

.PHONY: run test test-fast test-faults lint ui bench bench-serving bench-detection bench-training clean

run: $(STAMP)
	$(VENV)/bin/edgeflow run image $(ARGS)

# The suite runs in one pytest worker per core (pytest-xdist); a test file stays on one worker, so its
# module fixtures run once (session fixtures: once per worker that needs them). ARGS="-n 0" runs it serially.
test: $(STAMP) lint
	$(VENV)/bin/pytest -q --durations=15 -n auto --dist loadfile -m "not faults" $(ARGS)

test-faults: $(STAMP)  # SIGKILL at each pipeline step, then a rerun (about ten minutes); more rounds: benchmarks/fault_injection.py
	$(VENV)/bin/pytest -q -m faults $(ARGS)

test-fast: $(STAMP) lint
	$(VENV)/bin/pytest -q -n auto --dist loadfile -m "not e2e and not slow" $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

ui: $(STAMP)
	$(VENV)/bin/edgeflow ui

bench: $(STAMP)
	$(PYTHON) benchmarks/pipeline_run.py

bench-training: $(STAMP)
	$(PYTHON) benchmarks/training_science.py

bench-serving: $(STAMP)
	$(PYTHON) benchmarks/serving_load.py

bench-detection: $(STAMP)
	$(PYTHON) benchmarks/detection.py

$(PYTHON):
	@py=$$(.ci/find-python310) && echo "creating $(VENV) with $$py" && "$$py" -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(PYTHON)
	$(PYTHON) -m pip install -q --upgrade "pip>=24" wheel "setuptools>=64"
	$(PYTHON) -m pip install -q -c constraints.txt -e ".[test]"
	@touch $(STAMP)

clean:
	rm -rf $(VENV) output .pytest_cache

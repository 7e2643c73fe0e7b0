# The two commands a fresh machine needs:  `make demo`  and  `make test`.
# Both create the virtual environment on first use (pip; the torch CPU wheel is configured locally).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-out

.PHONY: demo test setup clean benchmarks

setup: $(VENV)/.installed

# --no-compile: Python compiles what it imports when it imports it, not every file of torch at install time
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --no-compile -c constraints.txt -e '.[test,onnx]'
	touch $@

# The main job: personalize the shipped population model (MIT-BIH DS1) to embedded DS2 record 233.
demo: setup
	$(BIN)/ecgadapt personalize --record src/ecgadapt/data/embedded/mitdb/233 --labelled-minutes 5 \
		--method finetune --out $(DEMO_OUT)

test: setup
	$(BIN)/python -m pytest -q --durations=15

benchmarks: setup
	$(BIN)/python benchmarks/data_benchmarks.py
	$(BIN)/python benchmarks/model_benchmarks.py
	$(BIN)/python benchmarks/personalize_benchmarks.py

clean:
	rm -rf $(DEMO_OUT) .pytest_cache

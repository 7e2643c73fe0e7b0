# The two commands a fresh machine needs:  `make demo`  and  `make test`.
# Both create the virtual environment on first use (pip; the torch CPU wheel is configured locally).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-out

.PHONY: demo test setup clean benchmarks

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

demo: setup
	$(BIN)/ecgadapt demo --out $(DEMO_OUT)

test: setup
	$(BIN)/python -m pytest -q

benchmarks: setup
	$(BIN)/python benchmarks/data_benchmarks.py

clean:
	rm -rf $(DEMO_OUT) .pytest_cache

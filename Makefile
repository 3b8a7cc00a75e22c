# Two commands on a fresh machine with Python 3.10+:  make demo  |  make test
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	$(BIN)/gpu-render warm   # compile the CPU kernels into numba's cache once, at install
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/gpu-render warm
	touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base   ## install, then render the built-in 10M-point dataset to PNGs in out/
	$(BIN)/gpu-render demo -o out

test: $(VENV)/.installed-test   ## install with test extras, then run the whole suite
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-test  ## the core benchmark against datashader (results in benchmarks/results/)
	$(BIN)/python benchmarks/bench_core.py

clean:
	rm -rf $(VENV) out

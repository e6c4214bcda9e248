# The two commands of the README: `make demo` and `make test`. Both create the virtual
# environment on first use; torch is installed first as the pinned CPU wheel, because an
# unpinned torch pulls several GB of CUDA packages.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deepwas-installed
DEMO_OUT ?= demo_out

.PHONY: venv demo test lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e . --group dev
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/deepwas demo --out $(DEMO_OUT)

# NumPy's OpenBLAS single-threaded: torch (MKL) does the heavy algebra, and two BLAS thread pools
# on two cores slow eigendecompositions down 30x (docs/decisions.md)
test: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

bench: $(STAMP)
	OPENBLAS_NUM_THREADS=1 $(PY) benchmarks/likelihood.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache

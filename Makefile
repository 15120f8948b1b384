# The two commands of README.md. Each creates or reuses .venv (re-installed when pyproject.toml
# changes) and runs. NUMBA_ENABLE_CUDASIM=1 lets the CUDA kernels run on Numba's simulator.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export NUMBA_ENABLE_CUDASIM ?= 1
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache

.PHONY: demo test test-all bench lint venv clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# SCALE-Sim 3.0.0, the NPU model's oracle, in its own venv (it needs numpy < 2.3). If it cannot be
# built (offline), the oracle tests skip and say why; nothing else depends on it.
SCALESIM_VENV := .venv-scalesim
SCALESIM_STAMP := $(SCALESIM_VENV)/.installed
$(SCALESIM_STAMP):
	@( $(PYTHON) -m venv $(SCALESIM_VENV) && $(SCALESIM_VENV)/bin/pip install -q "scalesim==3.0.0" "numpy<2.3" && touch $(SCALESIM_STAMP) ) || echo "warning: SCALE-Sim oracle env not built; tests/simulator/test_npu_oracle.py will skip"

demo: $(STAMP)
	$(VENV)/bin/gilt demo

test: $(STAMP) $(SCALESIM_STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP) $(SCALESIM_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .numba_cache .pytest_cache .hypothesis build *.egg-info

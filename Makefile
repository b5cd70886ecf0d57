# fakegc — the two set-up commands are `make demo` (main job) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test tools serve fuzz soak bench bench-deps lint docs dist clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

## The main job: the KB 929439 matrix on the embedded default cluster.
demo: $(STAMP)
	$(BIN)/fakegc kb929439

## The test suite (installs MIT krb5 tools, tshark and python3-samba when root), after lint.
test: $(STAMP) tools lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

## ruff (pinned default rules) on the package and tests; mypy --strict on the package
## (config in pyproject.toml). The import contract runs inside the suite (test_layers.py).
lint: $(STAMP)
	$(BIN)/ruff check fakegc tests benchmarks
	$(BIN)/mypy fakegc benchmarks

tools:
	@bash .ci/install-tools.sh

serve: $(STAMP)
	$(BIN)/fakegc serve

fuzz: $(STAMP)
	FAKEGC_FUZZ_EXAMPLES=2000 $(BIN)/python -m pytest -q tests/fuzz

bench-deps:
	@bash .ci/install-tools.sh bench

soak: $(STAMP)
	$(BIN)/python benchmarks/soak.py $(SOAK_ARGS)

bench: $(STAMP) bench-deps
	$(BIN)/python benchmarks/run_all.py

dist: $(STAMP)
	$(BIN)/python -m build --no-isolation --outdir dist .

docs: $(STAMP)
	$(BIN)/python -m fakegc.docs > docs/operations.md

clean:
	rm -rf $(VENV) build dist *.egg-info

# The README's commands. `make run` and `make test` each do all the set-up a fresh machine
# needs: a virtual environment in .venv with calipers built (release) and installed editable.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test test-rust test-python test-wheel lint bench wheel docs clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,docs]"

run: install
	$(BIN)/calipers report --example --out report-out

lint: install
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(BIN)/ruff check python tests bench examples scripts
	$(BIN)/ruff format --check python tests bench examples scripts
	$(BIN)/mypy python/calipers
	$(BIN)/python -m mypy.stubtest calipers._core --allowlist stubtest-allowlist.txt
	$(BIN)/python scripts/check_unused_deps.py

test-rust:
	cargo test --workspace

test-python: install
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest -q --doctest-modules python/calipers --ignore=python/calipers/torch

# The wheel and sdist (one abi3 wheel for CPython >= 3.10) in dist/; reuses the release build.
wheel: install
	$(BIN)/python -m pip install --quiet "maturin>=1.9,<2"
	rm -rf dist
	$(BIN)/maturin build --release --out dist
	$(BIN)/maturin sdist --out dist

# The wheel as a user meets it: contents and size, then a fresh venv without Rust on PATH.
test-wheel: wheel
	$(BIN)/python scripts/check_wheel.py dist

test: lint test-rust test-python test-wheel docs

bench: install
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) target dist

# The documentation site (offline; warnings are errors; the gallery examples run).
docs: install
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

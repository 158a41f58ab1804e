# The two commands a new user needs (see README.md):
#   make demo   runs the main job
#   make test   runs the whole test suite (what CI runs)
# Both check for what they need first and say what is missing.

CARGO ?= cargo
BIN   := target/release/pipeline
PAIRS := sin-cos damped square-sqrt

.PHONY: demo test lint unit build models toolchain clean

demo: toolchain build
	@echo "== Accuracy of the shipped sin-cos model (autoregressive decode, no retraining) =="
	$(BIN) eval --pair sin-cos --plot out/demo-sin-cos.png
	@echo
	@echo "== Translating two live windows through 'pipeline translate' =="
	@printf '%s\n' \
	  "$$(python3 -c 'import math;print(",".join(str(math.sin(0.3+k*4*math.pi/99)) for k in range(24)))')" \
	  "$$(python3 -c 'import math;print(",".join(str(math.sin(2.0+k*4*math.pi/99)) for k in range(24)))')" \
	  | $(BIN) translate --pair sin-cos | cut -c1-100 | sed 's/$$/ .../'
	@echo
	@echo "Figure: out/demo-sin-cos.png"

test: toolchain lint unit

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

unit:
	$(CARGO) test --locked

build:
	$(CARGO) build --release --locked

# Re-creates the shipped models with the default recipe (see models/README.md).
models: build
	for p in $(PAIRS); do $(BIN) retrain --pair $$p || exit 1; done

toolchain:
	@command -v $(CARGO) >/dev/null 2>&1 || { \
	  echo "cargo not found: install Rust 1.89 or newer (https://rustup.rs), then re-run make." >&2; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy
	@command -v python3 >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && apt-get install -y -qq python3) || sudo sh -c 'apt-get update -qq && apt-get install -y -qq python3'; \
	  else echo "python3 not found" >&2; exit 1; fi; }

clean:
	$(CARGO) clean
	rm -rf out

#!/usr/bin/env bash
# Runs the protocol-parser tests of this patched async-nats (PATCHES.md), the
# upstream ones and ours, in src/connection.rs.
#
# The published crate cannot run its own tests as it is: its dev-dependency
# `nats_server` lives only in the upstream repository. So this copies the
# crate, adds the two dev-dependencies the parser tests need, drops the one
# test module that needs `nats_server` (src/service/mod.rs), and runs
# `cargo test --lib connection::` with a pinned lock file (check.lock).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${CARGO_TARGET_DIR:-$here/../../target}/async-nats-check"
rm -rf "$work/crate"
mkdir -p "$work"
cp -r "$here" "$work/crate"
cd "$work/crate"
cp check.lock Cargo.lock
cat >>Cargo.toml <<'TOML'

[dev-dependencies]
tokio = { version = "1", features = ["full"] }
futures = "0.3"

[workspace]
TOML
sed -i '/^#\[cfg(test)\]$/,$d' src/service/mod.rs
CARGO_TARGET_DIR="$work/target" cargo test --locked --lib \
  --no-default-features --features "service ring nkeys jetstream kv server_2_10" \
  connection::

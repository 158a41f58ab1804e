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
mkdir -p "$work"
work="$(cd "$work" && pwd)" # absolute: the build below runs from inside it
rm -rf "$work/crate"
cp -r "$here" "$work/crate"
cd "$work/crate"
cp check.lock Cargo.lock
cat >>Cargo.toml <<'TOML'

[dev-dependencies]
tokio = { version = "1", features = ["full"] }
futures = "0.3"

[workspace]
TOML
grep -q '^#\[cfg(test)\]$' src/service/mod.rs || {
  echo "check-patch.sh: no test module to drop in src/service/mod.rs (a new release? see PATCHES.md)" >&2
  exit 1
}
sed -i '/^#\[cfg(test)\]$/,$d' src/service/mod.rs
# No debug info: nobody debugs this build, and it is a tenth of its time.
CARGO_PROFILE_DEV_DEBUG=false CARGO_TARGET_DIR="$work/target" "${CARGO:-cargo}" test --locked --lib \
  --no-default-features --features "service ring nkeys jetstream kv server_2_10" \
  connection::

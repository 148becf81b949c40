#!/bin/sh
# The test command: installs what is missing, then runs every test of the
# workspace (unit, integration, end-to-end against PTY devices and the
# simulated board, the flaw matrix, and comparisons with imgtool, nmap,
# gdb, QEMU, ser2net, openssl and tshark), then a short run of every fuzz
# target.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
# Tests start simulated boards; build the simulator binary first so the
# CLI tests find it next to `hilt`.
cargo build --workspace --bins
cargo test --workspace --no-fail-fast
HILT_FUZZ_SECONDS="${HILT_FUZZ_SECONDS:-20}" bash scripts/fuzz-smoke.sh

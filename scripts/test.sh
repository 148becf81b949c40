#!/bin/sh
# The test command: installs what is missing, then runs every test of the
# workspace (unit, integration, end-to-end against PTY devices and the
# simulated board, and comparisons with imgtool, nmap, gdb and tshark).
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
# Tests start simulated boards; build the simulator binary first so the
# CLI tests find it next to `hilt`.
cargo build --workspace --bins
cargo test --workspace --no-fail-fast

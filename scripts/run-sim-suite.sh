#!/bin/sh
# hilt's main job: installs what is missing, builds hilt and the simulated
# reference board, runs the full NIST IR 8259A suite against it and writes
# the run record, JUnit and evidence to hilt-out/<run-id>/.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p hilt -p hilt-sim
exec ./target/release/hilt run --suite nistir-8259a "$@"

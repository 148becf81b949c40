#!/bin/bash
# A short run of every fuzz target (MCUboot parser, console expect engine,
# GDB packet decoder). A crash fails the script. cargo-fuzz needs nightly
# compiler flags; on a stable toolchain RUSTC_BOOTSTRAP=1 enables them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
SECONDS_PER_TARGET="${HILT_FUZZ_SECONDS:-20}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: cargo install cargo-fuzz"
    cargo install --locked -q cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
run() {
    dir="$1"; target="$2"
    echo "fuzz-smoke: $target ($dir) for ${SECONDS_PER_TARGET}s"
    (cd "$dir" && cargo fuzz run --sanitizer none "$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -seed=1 -print_final_stats=1 2>&1 | tail -n 12)
}
run harness/image mcuboot_parse
run harness expect_engine
run harness/debug gdb_packet_decode
echo "fuzz-smoke: no crashes"

#!/bin/sh
# Repeatability: runs the quick suite QUICK times (default 100) and the full
# suite (nistir-8259a) FULL times (default 10) on one simulated reference
# board (release build), then prints, per suite, how many verdicts differed
# between runs: for each check whose verdict was not the same every time,
# the verdicts seen, how often, and their reasons. Exit status 1 when any
# verdict differed or a record was incomplete.
#
#   scripts/repeat-runs.sh [QUICK [FULL]]
#   HILT_REPEAT_INDEX=N   board index to use (default 200; 0..=253, free)
#   HILT_REPEAT_KEEP=1    keep the records (the folder is printed)
set -eu
cd "$(dirname "$0")/.."
QUICK=${1:-100}
FULL=${2:-10}
INDEX=${HILT_REPEAT_INDEX:-200}
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q -p hilt -p hilt-sim
HILT=./target/release/hilt
SIM=./target/release/hilt-sim

work=$(mktemp -d)
cleanup() {
    "$SIM" down --runtime-dir "$work/sim" >/dev/null 2>&1 || true
    if [ "${HILT_REPEAT_KEEP:-}" = 1 ]; then
        echo "records kept in $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$SIM" up --count 1 --fresh --base-index "$INDEX" --runtime-dir "$work/sim" >/dev/null
board="$work/sim/sim-$INDEX/board.yaml"

# runs SUITE TIMES: one record per run under $work/SUITE/.
runs() {
    i=1
    while [ "$i" -le "$2" ]; do
        started=$(date +%s)
        # A run with FAIL or INCONCLUSIVE exits non-zero; the record says why.
        "$HILT" run --suite "$1" -b "$board" --out "$work/$1" -- --quiet >/dev/null 2>&1 || true
        echo "$1 $i/$2 ($(($(date +%s) - started)) s)" >&2
        i=$((i + 1))
    done
}
runs quick "$QUICK"
runs nistir-8259a "$FULL"

python3 - "$work" quick nistir-8259a <<'EOF'
import collections, glob, json, os, sys

work, suites = sys.argv[1], sys.argv[2:]
differed_total = 0
for suite in suites:
    records = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(work, suite, "*", "record.json")))]
    incomplete = sum(1 for r in records if not r.get("complete"))
    seen = collections.defaultdict(list)  # check -> [(verdict, reason)]
    for r in records:
        for t in r["trials"]:
            seen[t["check"]].append((t["verdict"], t["reason"]))
    differed = 0
    lines = []
    for check, results in sorted(seen.items()):
        counts = collections.Counter(v for v, _ in results)
        if len(counts) > 1 or len(results) != len(records):
            usual = counts.most_common(1)[0][0]
            n = len(records) - counts[usual]
            differed += n
            lines.append(f"  {check}: " + ", ".join(f"{v} x{c}" for v, c in counts.most_common())
                         + (f", missing x{len(records) - len(results)}" if len(results) != len(records) else ""))
            for v, reason in sorted(set(x for x in results if x[0] != usual)):
                lines.append(f"    {v}: {reason}")
    trials = sum(len(r["trials"]) for r in records)
    tally = collections.Counter(t["verdict"] for r in records for t in r["trials"])
    print(f"{suite}: {len(records)} runs, {trials} trials ({', '.join(f'{n} {v}' for v, n in tally.most_common())}), "
          f"{differed} verdicts differed from their check's usual verdict, {incomplete} incomplete records")
    print("\n".join(lines))
    differed_total += differed + incomplete
sys.exit(1 if differed_total else 0)
EOF

#!/bin/sh
# Takes a device made of Debian's daemons down: `down.sh weak|hardened`.
# Stops its daemons (and the weak device's cloud broker), removes its
# namespace and link and its files under /run/hilt-deb. Safe to run again.
set -eu
. "$(dirname "$0")/common.sh"
config "${1:-}"
kill_device
if [ -f "$RUN/cloud.pid" ]; then
    pid=$(cat "$RUN/cloud.pid")
    # Only the cloud broker this script started (its command line names our config).
    if grep -q "$RUN/cloud-mosquitto.conf" "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
    fi
fi
ip link del "$HOSTIF" 2>/dev/null || true
ip netns del "$NS" 2>/dev/null || true
rm -rf "$RUN"
rmdir "$(dirname "$RUN")" 2>/dev/null || true

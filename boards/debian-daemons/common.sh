# Shared by up.sh, down.sh, power.sh and device.sh: where each
# configuration of the Debian daemons device lives. Sourced, not run.
# shellcheck shell=sh

DIR=$(cd "$(dirname "$0")" && pwd)

config() {
    CFG=${1:-}
    case "$CFG" in
        weak)
            NS=hilt-deb-weak HOSTIF=hilt-deb-weak
            HOST_ADDR=198.19.1.1 DEV_ADDR=198.19.1.2 ;;
        hardened)
            NS=hilt-deb-hard HOSTIF=hilt-deb-hard
            HOST_ADDR=198.19.2.1 DEV_ADDR=198.19.2.2 ;;
        *)
            echo "usage: $0 weak|hardened ..." >&2
            exit 64 ;;
    esac
    RUN=/run/hilt-deb/$CFG
}

need() {
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "$0: $tool is missing: run scripts/install-deps.sh" >&2
            exit 69
        fi
    done
}

# The ports the device listens on once its daemons are up.
ports() {
    case "$CFG" in
        weak) echo "23 80 1883" ;;
        hardened) echo "22 443 8883" ;;
    esac
}

# Kills every process of the device (those in its network namespace).
kill_device() {
    pids=$(ip netns pids "$NS" 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
    i=0
    while [ $i -lt 50 ] && [ -n "$(ip netns pids "$NS" 2>/dev/null)" ]; do
        sleep 0.1; i=$((i + 1))
    done
    pids=$(ip netns pids "$NS" 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
}

# Waits until every TCP port of the device listens (up to 10 s).
wait_listening() {
    i=0
    while [ $i -lt 100 ]; do
        missing=""
        listening=$(ip netns exec "$NS" ss -Hltn 2>/dev/null || true)
        for port in $(ports); do
            echo "$listening" | grep -q ":$port " || missing="$missing $port"
        done
        [ -z "$missing" ] && return 0
        sleep 0.1; i=$((i + 1))
    done
    echo "$0: $CFG: ports$missing never listened; logs in $RUN" >&2
    return 1
}

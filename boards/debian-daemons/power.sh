#!/bin/sh
# The device's power switch: `power.sh weak|hardened on|off|cycle`.
# Off stops every daemon of the device (its link stays, as a powered-off
# board's cable stays plugged in); on starts them again from the
# configuration files in the repo and waits until they listen.
set -eu
. "$(dirname "$0")/common.sh"
config "${1:-}"
action=${2:-}
if ! ip netns list | grep -qw "$NS"; then
    echo "$0: $CFG is not up (run up.sh $CFG first)" >&2
    exit 1
fi
on() {
    kill_device
    # A mount namespace of its own: the device's made-up accounts and logs
    # are bind-mounted over the host's for the device's processes only.
    ip netns exec "$NS" unshare --mount --uts --propagation private \
        sh "$DIR/device.sh" "$CFG" >"$RUN/device.log" 2>&1 </dev/null
    wait_listening
}
case "$action" in
    on) on ;;
    off) kill_device ;;
    cycle) kill_device; sleep 0.3; on ;;
    *) echo "usage: $0 weak|hardened on|off|cycle" >&2; exit 64 ;;
esac

#!/bin/sh
# A bare shell on a PTY, with no login: `sh boards/pty-shell/up.sh` (as
# root). socat makes the PTY (/run/hilt-pty/shell/tty) and runs Debian's
# dash on it, again after each exit, as the unprivileged user nobody in a
# mount namespace with a private /tmp: what a board whose console opens
# straight into a shell gives anyone who plugs in.
set -eu
DIR=$(cd "$(dirname "$0")" && pwd)
RUN=/run/hilt-pty/shell
for tool in socat unshare setpriv; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$0: $tool is missing: run scripts/install-deps.sh" >&2; exit 69; }
done
sh "$DIR/down.sh"
mkdir -p "$RUN/tmp"
chmod 1777 "$RUN/tmp"
setsid -f unshare --mount --uts --propagation private sh -c '
    RUN=$1
    mount --bind "$RUN/tmp" /tmp
    hostname pty-shell
    echo $$ >"$RUN/pid"
    exec socat pty,link="$RUN/tty",raw,echo=0 \
        exec:"sh $2/shell-loop.sh",pty,setsid,ctty,stderr,sigint,sane
' sh "$RUN" "$DIR" >"$RUN/socat.log" 2>&1 </dev/null
i=0
while [ ! -e "$RUN/tty" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$RUN/tty" ] || { echo "$0: no PTY at $RUN/tty; see $RUN/socat.log" >&2; exit 1; }
echo "pty-shell up: console $RUN/tty"

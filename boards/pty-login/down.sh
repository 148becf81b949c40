#!/bin/sh
# Takes pty-login down: stops its socat (and the login on its PTY) and
# removes /run/hilt-pty/login. Safe to run again.
RUN=/run/hilt-pty/login
if [ -f "$RUN/pid" ]; then
    pid=$(cat "$RUN/pid")
    # Only the socat this board's up.sh started (it names our PTY).
    if grep -q "$RUN/tty" "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
    fi
fi
rm -rf "$RUN"
rmdir "$(dirname "$RUN")" 2>/dev/null || true

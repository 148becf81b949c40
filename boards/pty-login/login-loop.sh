#!/bin/sh
# What a getty does: /bin/login on the console, again after each session,
# each time on a fresh line (a getty prints its issue before the prompt).
# Ctrl-C ends a login at its prompt (Debian's login exits), not the loop.
trap 'true' INT
while :; do
    printf '\r\n'
    /bin/login
    sleep 0.2
done

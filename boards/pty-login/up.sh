#!/bin/sh
# Debian's real /bin/login on a PTY: `sh boards/pty-login/up.sh` (as root).
# socat makes the PTY (/run/hilt-pty/login/tty) and runs login on it, again
# after each session, as a getty would. login sees only the board's own
# accounts: it runs in a mount namespace where a private copy of /etc,
# with a made-up passwd, shadow and group, is bind-mounted over the
# host's /etc (so `passwd` can rewrite the shadow file); the host's /etc
# and accounts are never read for a login nor written. The account
# `admin` gets a random password, in /run/hilt-pty/login/admin.password.
set -eu
DIR=$(cd "$(dirname "$0")" && pwd)
RUN=/run/hilt-pty/login
for tool in socat unshare openssl /bin/login passwd; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$0: $tool is missing: run scripts/install-deps.sh" >&2; exit 69; }
done
sh "$DIR/down.sh"
mkdir -p "$RUN"
umask 077
openssl rand -hex 12 >"$RUN/admin.password"
umask 022
# The board's /etc: the host's, with its own accounts in place of the host's.
cp -a /etc "$RUN/etc"
hash=$(openssl passwd -6 -stdin <"$RUN/admin.password")
cat >"$RUN/etc/passwd" <<EOT
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
admin:x:1000:1000:board administrator:$RUN/home/admin:/bin/sh
EOT
cat >"$RUN/etc/shadow" <<EOT
root:*:20000:0:99999:7:::
nobody:*:20000:0:99999:7:::
admin:$hash:20000:0:99999:7:::
EOT
printf 'root:x:0:\ntty:x:5:\nshadow:x:42:\nadmin:x:1000:\nnogroup:x:65534:\n' >"$RUN/etc/group"
: >"$RUN/etc/gshadow"
chmod 644 "$RUN/etc/passwd" "$RUN/etc/group"
chmod 640 "$RUN/etc/shadow" "$RUN/etc/gshadow"
printf 'pty-login\n' >"$RUN/etc/hostname"
mkdir -p "$RUN/home/admin" "$RUN/log"
printf "PS1='admin@pty-login:~\$ '\n" >"$RUN/home/admin/.profile"
chown -R 1000:1000 "$RUN/home/admin"
for f in lastlog wtmp btmp; do : >"$RUN/log/$f"; done
setsid -f unshare --mount --uts --propagation private sh -c '
    RUN=$1
    mount --bind "$RUN/etc" /etc
    for f in lastlog wtmp btmp; do
        [ -f "/var/log/$f" ] && mount --bind "$RUN/log/$f" "/var/log/$f"
    done
    hostname pty-login
    echo $$ >"$RUN/pid"
    exec socat pty,link="$RUN/tty",raw,echo=0 \
        exec:"sh $2/login-loop.sh",pty,setsid,ctty,stderr,sigint,sane
' sh "$RUN" "$DIR" >"$RUN/socat.log" 2>&1 </dev/null
i=0
while [ ! -e "$RUN/tty" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$RUN/tty" ] || { echo "$0: no PTY at $RUN/tty; see $RUN/socat.log" >&2; exit 1; }
echo "pty-login up: console $RUN/tty"

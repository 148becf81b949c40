#!/bin/sh
# The device's boot: runs inside its network namespace and a mount
# namespace of its own (power.sh starts it). Binds the device's made-up
# accounts over /etc/passwd, /etc/shadow and /etc/group, and private login
# records over the host's, for this device's processes only; then starts
# each daemon with its configuration from the repo, detached, logging to
# /run/hilt-deb/<config>/.
set -eu
. "$(dirname "$0")/common.sh"
config "${1:-}"
mkdir -p "$RUN/etc" "$RUN/log"
subst() { sed -e "s#DIR#$DIR#g" -e "s#RUN#$RUN#g" "$1" >"$2"; }
hostname "debian-$CFG"

# Accounts and login records of the device, never the host's.
cp "$DIR/shared/group" "$RUN/etc/group"
case "$CFG" in
    weak) cp "$DIR/shared/passwd" "$RUN/etc/passwd"; cp "$DIR/weak/shadow" "$RUN/etc/shadow" ;;
    hardened) sed "s#HOME#$RUN/home/admin#" "$DIR/hardened/passwd" >"$RUN/etc/passwd"
              hash=$(openssl passwd -6 -stdin <"$RUN/admin.password")
              sed "s#ADMIN_HASH#$hash#" "$DIR/hardened/shadow" >"$RUN/etc/shadow"
              # lighttpd asks PAM (service "http": pam_faillock's lockout);
              # the device's own /etc/pam.d and failure records.
              mkdir -p "$RUN/pam.d" "$RUN/faillock"
              subst "$DIR/hardened/pam-http" "$RUN/pam.d/http"
              mount --bind "$RUN/pam.d" /etc/pam.d ;;
esac
chmod 640 "$RUN/etc/shadow"
# Its own names: no lookup ever leaves the device's link.
printf '127.0.0.1 localhost\n%s debian-%s\n%s cloud\n' "$DEV_ADDR" "$CFG" "$HOST_ADDR" >"$RUN/etc/hosts"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$RUN/etc/resolv.conf"
for f in passwd shadow group hosts resolv.conf; do
    mount --bind "$RUN/etc/$f" "/etc/$f"
done
for f in /var/log/lastlog /var/log/wtmp /var/log/btmp /var/run/utmp /run/utmp; do
    if [ -f "$f" ] && [ ! -L "$f" ]; then
        : >"$RUN/log/$(basename "$f")"
        mount --bind "$RUN/log/$(basename "$f")" "$f"
    fi
done

start() { # NAME COMMAND...: a daemon, detached, in the foreground of its own session
    name=$1; shift
    setsid -f "$@" >"$RUN/$name.log" 2>&1 </dev/null
}

case "$CFG" in
    weak)
        subst "$DIR/weak/lighttpd.conf" "$RUN/lighttpd.conf"
        mkdir -p "$RUN/snmp"
        start inetd inetutils-inetd -d -p "$RUN/inetd.pid" "$DIR/weak/inetd.conf"
        start mosquitto mosquitto -c "$DIR/weak/mosquitto.conf"
        SNMP_PERSISTENT_DIR="$RUN/snmp" start snmpd snmpd -f -C -c "$DIR/weak/snmpd.conf" \
            -Lo -I -smux -p "$RUN/snmpd.pid"
        start lighttpd lighttpd -D -f "$RUN/lighttpd.conf"
        start telemetry sh "$DIR/weak/telemetry.sh"
        ;;
    hardened)
        mkdir -p "$RUN/home/admin/.ssh"
        chmod 755 "$RUN/home" "$RUN/home/admin"
        chmod 700 "$RUN/home/admin/.ssh"
        cp "$RUN/admin_ed25519.pub" "$RUN/home/admin/.ssh/authorized_keys"
        chown -R 1000:1000 "$RUN/home/admin"
        chmod 600 "$RUN/home/admin/.ssh/authorized_keys"
        # mosquitto reads the admin password made by up.sh (lighttpd asks PAM).
        mosquitto_passwd -b -c "$RUN/mosquitto.passwd" admin "$(cat "$RUN/admin.password")" 2>/dev/null
        subst "$DIR/hardened/lighttpd.conf" "$RUN/lighttpd.conf"
        subst "$DIR/hardened/mosquitto.conf" "$RUN/mosquitto.conf"
        # -s: no password logins (keys only); -g: none for root either.
        # The firewall's per-source limit on MQTT logins (mqtt-limit.nft).
        nft -f "$DIR/hardened/mqtt-limit.nft"
        start dropbear dropbear -F -E -s -g -p "$DEV_ADDR:22" -r "$RUN/ssh_host_ed25519_key" \
            -P "$RUN/dropbear.pid"
        start lighttpd lighttpd -D -f "$RUN/lighttpd.conf"
        start mosquitto mosquitto -c "$RUN/mosquitto.conf"
        ;;
esac

#!/bin/sh
# Brings a device made of Debian's daemons up: `up.sh weak|hardened`.
# The device is its own host: network namespace NS behind a veth pair,
# host side HOST_ADDR/24, device DEV_ADDR (see common.sh). Its secrets,
# certificates and logs go to /run/hilt-deb/<config>/. Then its power is
# switched on (power.sh). Run as root; down.sh undoes everything.
set -eu
. "$(dirname "$0")/common.sh"
config "${1:-}"
need ip unshare setsid ss openssl mosquitto
case "$CFG" in
    weak) need inetutils-inetd telnetd snmpd lighttpd mosquitto_pub mosquitto_passwd ;;
    hardened) need dropbear dropbearkey lighttpd nft ;;
esac
sh "$DIR/down.sh" "$CFG"
mkdir -p "$RUN"
chmod 755 "$RUN"

# The link: the device's end in its namespace, the host's end here.
ip netns add "$NS"
ip link add "$HOSTIF" type veth peer name eth0 netns "$NS"
ip addr add "$HOST_ADDR/24" dev "$HOSTIF"
ip link set "$HOSTIF" up
ip -n "$NS" addr add "$DEV_ADDR/24" dev eth0
ip -n "$NS" link set eth0 up
ip -n "$NS" link set lo up

case "$CFG" in
    weak)
        # The telemetry's fixed server: a broker on the host side of the link.
        mosquitto_passwd -b -c "$RUN/cloud.passwd" admin admin 2>/dev/null
        sed "s#RUN#$RUN#g" "$DIR/weak/cloud-mosquitto.conf" >"$RUN/cloud-mosquitto.conf"
        mosquitto -d -c "$RUN/cloud-mosquitto.conf"
        ;;
    hardened)
        # Secrets made for this bring-up: the admin password, a test CA and
        # the device's server certificate, the SSH host key and the lab's key.
        umask 077
        openssl rand -hex 12 >"$RUN/admin.password"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
            -subj "/CN=hilt-deb test CA" -keyout "$RUN/ca.key" -out "$RUN/ca.pem" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=debian-hardened" -keyout "$RUN/server.key" -out "$RUN/server.csr" 2>/dev/null
        printf 'subjectAltName=IP:%s,DNS:debian-hardened\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
            "$DEV_ADDR" >"$RUN/server.ext"
        openssl x509 -req -in "$RUN/server.csr" -CA "$RUN/ca.pem" -CAkey "$RUN/ca.key" \
            -CAcreateserial -days 30 -extfile "$RUN/server.ext" -out "$RUN/server.pem" 2>/dev/null
        cat "$RUN/server.key" "$RUN/server.pem" >"$RUN/server-combined.pem"
        dropbearkey -t ed25519 -f "$RUN/ssh_host_ed25519_key" >/dev/null 2>&1
        dropbearkey -t ed25519 -f "$RUN/admin_ed25519" 2>/dev/null \
            | grep '^ssh-ed25519' >"$RUN/admin_ed25519.pub"
        umask 022
        chmod 644 "$RUN/ca.pem"
        ;;
esac
sh "$DIR/power.sh" "$CFG" on
echo "$CFG up: device $DEV_ADDR in namespace $NS, host side $HOST_ADDR on $HOSTIF, files in $RUN"

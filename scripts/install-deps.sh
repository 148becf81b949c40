#!/bin/sh
# Installs what hilt's build, main job and tests need on Debian (as root).
# Safe to run again: it only installs what is missing.
set -eu

need_apt=""
have() { command -v "$1" >/dev/null 2>&1; }
pkg_missing() { ! dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# Debian packages: the C toolchain for -sys crates, libpcap for captures,
# and the tools nobody here wrote that the tests check hilt against.
# Packages go in without recommends, so what a tool only recommends is
# named here: ipxe-qemu holds the option ROMs (efi-virtio.rom) QEMU needs
# for its default NIC, mosquitto-clients the mosquitto_sub the MQTT test uses
# (and the Debian-daemons device's telemetry client), lighttpd-mod-openssl
# the hardened Debian-daemons device's HTTPS.
# The ssh2 crate builds its bundled libssh2 against libssl-dev and zlib1g-dev;
# dropbear-bin and openssh-server are the SSH devices its tests log in to.
# busybox-static is the busybox (telnetd, httpd) of the login-driver tests
# (harness/tests/login_probes.rs, tests/default_credentials.rs) and of the
# Linux QEMU board's initramfs (the two Debian packages conflict, and this
# one provides `busybox`); vsftpd is their FTP login. qemu-system-x86 and
# xz-utils (to unpack the kernel) make that board with
# boards/linux-qemu-x86/build-guest.sh, which its test runs; it fetches
# Debian's kernel with apt-get download into target/.
# protobuf-compiler is the protoc that generates hilt-labgrid's gRPC client
# (harness/labgrid/build.rs) from its proto file.
# chromium loads the HTML report headless (tests/html_report.rs: console
# messages, the DOM after load, a screenshot and a PDF).
# One line a group, so that each addition stays its own line.
packages="
build-essential pkg-config libpcap-dev
socat iproute2 nftables nmap tshark gdb gdb-multiarch openssl curl
sslscan
mosquitto mosquitto-clients
qemu-system-arm ipxe-qemu
u-boot-qemu
qemu-system-x86 busybox-static xz-utils
inetutils-inetd inetutils-telnetd ser2net snmpd libcoap3-bin avahi-daemon minidlna
vsftpd
dnsmasq-base
python3-pip
libssl-dev zlib1g-dev dropbear-bin openssh-server openssh-client
lighttpd lighttpd-mod-openssl
protobuf-compiler
chromium
lighttpd-mod-authn-pam
"
for pkg in $packages; do
    if pkg_missing "$pkg"; then need_apt="$need_apt $pkg"; fi
done
if [ -n "$need_apt" ]; then
    echo "install-deps: apt-get install$need_apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # tshark asks whether non-root users may capture; the default (no) is fine.
    apt-get install -y -qq --no-install-recommends $need_apt >/dev/null
fi

# From PyPI: imgtool (MCUboot's signing tool) and smpclient (an MCUmgr
# client written elsewhere): images and SMP are checked against them.
pip_install() {
    python3 -m pip install -q "$@" 2>/dev/null \
        || python3 -m pip install -q --break-system-packages "$@"
}
if ! python3 -c "import imgtool" 2>/dev/null; then
    echo "install-deps: pip install imgtool"
    pip_install imgtool
fi
# jsonschema: an independent validator the run record is checked against
# (tests/record_schema.rs validates record.json with `hilt schema record`).
if ! python3 -c "import jsonschema" 2>/dev/null; then
    echo "install-deps: pip install jsonschema"
    pip_install jsonschema
fi
# junitparser: an independent JUnit reader junit.xml is checked against
# (tests/rack_reports.rs: its counts per board equal the record's).
if ! python3 -c "import junitparser" 2>/dev/null; then
    echo "install-deps: pip install junitparser"
    pip_install junitparser
fi
if ! python3 -c "import smpclient" 2>/dev/null; then
    echo "install-deps: pip install smpclient[serial]"
    pip_install "smpclient[serial]"
fi

# labgrid (its coordinator, exporter and client): the lab hilt-labgrid's
# client is tested against (harness/labgrid/tests, tests/labgrid.rs).
if ! command -v labgrid-coordinator >/dev/null 2>&1; then
    echo "install-deps: pip install labgrid"
    pip_install labgrid
fi

# Rust: the machine's toolchain, or rustup's if none.
if ! have cargo; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        :
    else
        echo "install-deps: no cargo found; install Rust (rustup) first" >&2
        exit 1
    fi
fi

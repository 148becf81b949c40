#!/bin/sh
# Builds the Linux guest of boards/linux-qemu-x86: Debian's amd64 kernel and
# an initramfs made of Debian's busybox-static, the files under rootfs/, the
# NIC driver modules taken from the same kernel package, and a root account
# whose password is made here at random (the hash goes into /etc/shadow, the
# password into root-password beside the images, read by the board file).
#
#   build-guest.sh [CACHE_DIR]    default: <repo>/target/linux-qemu-x86
#
# Nothing prebuilt comes from anywhere but Debian's packages: the kernel is
# fetched with `apt-get download`, busybox is the installed busybox-static.
# Builds only when the cache is missing or older than these sources.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${1:-$repo/target/linux-qemu-x86}
# The NIC the board file gives QEMU (-device e1000) and its driver modules.
modules="e1000"

# The sources a build depends on; a change to any of them rebuilds.
stamp_of() {
    cat "$here/build-guest.sh" $(find "$here/rootfs" -type f | sort) | sha256sum | cut -d' ' -f1
}
stamp=$(stamp_of)
if [ -f "$cache/stamp" ] && [ "$(cat "$cache/stamp")" = "$stamp" ] \
    && [ -f "$cache/vmlinux" ] && [ -f "$cache/initramfs.cpio.gz" ] && [ -f "$cache/root-password" ]; then
    exit 0
fi

busybox=/bin/busybox
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed" \
    || ! [ -x "$busybox" ]; then
    echo "build-guest: busybox-static is not installed; run scripts/install-deps.sh" >&2
    exit 1
fi
for tool in apt-get apt-cache dpkg gzip xz openssl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "build-guest: $tool missing; run scripts/install-deps.sh" >&2; exit 1; }
done

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The kernel: the version Debian's linux-image-amd64 points to today.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
if [ -z "$kpkg" ]; then
    echo "build-guest: apt knows no linux-image-amd64; run apt-get update" >&2
    exit 1
fi
if ! ls "$cache"/"$kpkg"_*.deb >/dev/null 2>&1; then
    (cd "$work" && apt-get download "$kpkg" 2>/dev/null) || {
        echo "build-guest: apt-get download $kpkg failed" >&2; exit 1; }
    rm -f "$cache"/linux-image-*.deb
    mv "$work"/"$kpkg"_*.deb "$cache/"
fi
dpkg -x "$cache"/"$kpkg"_*.deb "$work/kernel"
kver=${kpkg#linux-image-}
# QEMU boots the kernel's ELF image directly (PVH entry): no firmware
# loader and no XZ decompression in the emulated CPU, which under software
# emulation on a busy host saves most of the boot. The image is unpacked
# here from Debian's bzImage, as the kernel's own scripts/extract-vmlinux does.
bzimage="$work/kernel/boot/vmlinuz-$kver"
offset=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$bzimage" | head -n1 | cut -d: -f1)
if [ -z "$offset" ]; then
    echo "build-guest: no XZ payload in $bzimage" >&2
    exit 1
fi
tail -c +"$((offset + 1))" "$bzimage" | xz -dc --single-stream > "$work/vmlinux"
if [ "$(head -c 4 "$work/vmlinux" | od -An -c | tr -d ' ')" != "177ELF" ]; then
    echo "build-guest: the payload of $bzimage is not an ELF kernel" >&2
    exit 1
fi

# The root file system.
root="$work/root"
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/dev" "$root/proc" \
    "$root/sys" "$root/tmp" "$root/root" "$root/var/log" "$root/run" "$root/lib/modules"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
cp -R "$here/rootfs/." "$root/"
chmod 0755 "$root/init" "$root/etc/init.d/rcS"

# Driver modules with their dependencies, loaded by /init in this order.
kmods="$work/kernel/lib/modules/$kver"
order=""
add_module() {
    case " $order " in *" $1 "*) return ;; esac
    file=$(find "$kmods" -name "$1.ko" -o -name "$1.ko.xz" | head -n1)
    if [ -z "$file" ]; then echo "build-guest: module $1 not in $kpkg" >&2; exit 1; fi
    for dep in $("$busybox" strings -a "$file" | sed -n 's/^depends=//p' | tr ',' ' '); do
        add_module "$dep"
    done
    cp "$file" "$root/lib/modules/"
    order="$order $1"
}
for m in $modules; do add_module "$m"; done
echo $order > "$root/lib/modules/load-order"

# The root account: a random password, its SHA-512 crypt hash in /etc/shadow.
password=$(openssl rand -base64 18 | tr -d '\n/+=' | cut -c1-20)
hash=$(printf '%s' "$password" | openssl passwd -6 -stdin)
printf 'root:%s:19700:0:99999:7:::\n' "$hash" > "$root/etc/shadow"
chmod 0600 "$root/etc/shadow"

(cd "$root" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -9 > "$work/initramfs.cpio.gz"

umask 077
printf '%s\n' "$password" > "$work/root-password"
rm -f "$cache/vmlinuz"
mv "$work/vmlinux" "$cache/vmlinux"
mv "$work/initramfs.cpio.gz" "$cache/initramfs.cpio.gz"
mv "$work/root-password" "$cache/root-password"
echo "$stamp" > "$cache/stamp"
echo "build-guest: $cache (kernel $kver, modules:$order)"

#!/usr/bin/env bash
# Assembles the QEMU test image with the release image's own board files and overlay:
#   Debian root filesystem (build-rootfs.sh, cached) + buildroot-overlay/ + the panier binary,
#   + the service catalog (services/, when present, and the suite's test service), finished by image/board/x86_64/post-build.sh,
#   packed as a gzip squashfs, then GRUB's images (Debian's GRUB, same modules and early config
#   as the defconfig's), then image/board/x86_64/post-image.sh (grub.cfg, grubenv, genimage,
#   MBR, RAUC bundle).
# The system says it is version $PANIER_VERSION (2026.12.1 by default). Also makes, for the
# suite's updates through the agent's channel: panier-next.raucb, the same system as version
# $PANIER_VERSION + 1 (patch number), and panier-broken.raucb, a newer one still whose panier
# cannot start, for the fallback test; their versions in next.version and broken.version, and
# the development release key that signs the suite's channel in release.key.
#
# The squashfs is gzip, not the release image's xz: on two busy cores xz took most of the
# build's time, and the guest decompresses gzip faster under TCG. GRUB reads both. The
# compressed-size figure of this image is therefore above the release image's.
#
# Nothing is rebuilt when nothing changed: the output directory keeps a checksum of every input
# (the Debian tarball's key, the overlay, the board files and scripts, the catalog, this
# script, the agent binary) and the build stops early when it matches.
#
# Usage: build-test-image.sh [OUTPUT_DIR]   (default /var/cache/panier/image/test)
# Environment: PANIER_BIN, the agent binary (default: `cargo build -p panier`, debug, stripped
# into the image); PANIER_REBUILD=1 rebuilds even when the inputs did not change.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
board="$root/image/board/x86_64"
cache=${PANIER_IMAGE_CACHE:-/var/cache/panier/image}
out=${1:-$cache/test}
export PANIER_RAUC_KEYS_DIR="$cache/rauc-dev-keys"

step() { echo "build-test-image: $*" >&2; }

# The versions: this system's, and the two bundles' the suite offers through its channel.
export PANIER_VERSION=${PANIER_VERSION:-2026.12.1}
next_version=${PANIER_VERSION%.*}.$(( ${PANIER_VERSION##*.} + 1 ))
broken_version=${PANIER_VERSION%.*}.$(( ${PANIER_VERSION##*.} + 2 ))

if [ -z "${PANIER_BIN:-}" ]; then
  step "building the agent"
  (cd "$root" && cargo build --quiet -p panier)
  PANIER_BIN="$(cd "$root" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/debug/panier"
fi
[ -x "$PANIER_BIN" ] || { echo "build-test-image: no agent binary at $PANIER_BIN" >&2; exit 1; }

rootfs_dir=$("$root/tests/qemu/build-rootfs.sh")

# The inputs' checksum: file names and contents of every tree the image is made from.
trees=(buildroot-overlay image/board image/scripts image/configs tests/qemu/build-test-image.sh tests/catalog/site)
[ -d "$root/services" ] && trees+=(services)
inputs=$(
  cd "$root"
  {
    basename "$rootfs_dir"
    echo "$PANIER_VERSION"
    sha256sum "$PANIER_BIN" | cut -d' ' -f1
    find "${trees[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    find "${trees[@]}" -type l -printf '%p -> %l\n' | LC_ALL=C sort
  } | sha256sum | cut -c1-16
)
if [ "${PANIER_REBUILD:-0}" != 1 ] && [ -f "$out/panier.img" ] && [ "$(cat "$out/inputs" 2>/dev/null)" = "$inputs" ]; then
  step "up to date: $out/panier.img (inputs $inputs)"
  exit 0
fi

rm -rf "$out"
mkdir -p "$out/efi-part/EFI/BOOT" "$out/upper" "$out/work" "$out/target"
target="$out/target"
# The cached Debian root filesystem stays untouched: an overlay mount takes this build's
# changes, so nothing is copied.
mount -t overlay panier-test-root -o "lowerdir=$rootfs_dir,upperdir=$out/upper,workdir=$out/work" "$target"
unmount_target() { if mountpoint -q "$target"; then umount "$target"; fi; rm -rf "$out/upper" "$out/work" "$target"; }
trap unmount_target EXIT

step "applying the overlay and the agent to $(basename "$rootfs_dir")"
cp -a "$root/buildroot-overlay/." "$target/"
install -m 0755 "$PANIER_BIN" "$target/usr/bin/panier"
strip "$target/usr/bin/panier"
# Debian's Docker Engine 20.10 writes a trust key to /etc/docker/key.json at start, on the
# read-only root here (Buildroot's Docker Engine 28 no longer has that key): test image only.
# Its path is a daemon.json key (not a command-line flag any more in 20.10).
# The base the agent writes /data/etc/docker/daemon.json from (/etc/docker/daemon.json links there).
jq '. + {"deprecated-key-path": "/data/docker/key.json"}' "$root/buildroot-overlay/usr/share/panier/docker-daemon.json" \
  > "$target/usr/share/panier/docker-daemon.json"
# Test image only: the QEMU suite's update mirror has its own authority, which the suite puts
# here (tests/qemu/channel.sh), as a CHATONS running its own mirror would.
printf '\n[update]\nca = "/data/etc/panier/update-ca.pem"\n' >> "$target/usr/share/panier/panier.toml"
# The service catalog the agent reads (`catalog` in panier.toml); empty until services/ exists.
mkdir -p "$target/usr/share/panier/services"
if [ -d "$root/services" ]; then cp -a "$root/services/." "$target/usr/share/panier/services/"; fi
# The QEMU suite's test service, test image only: tests/catalog/site (busybox httpd, an image
# the suite imports into the box; the catalog's own services pull from registries) as test-site.
cp -a "$root/tests/catalog/site" "$target/usr/share/panier/services/test-site"
sed -i 's/^id = "site"$/id = "test-site"/' "$target/usr/share/panier/services/test-site/manifest.toml"
# GRUB's menu loads /boot/bzImage and, when present, /boot/initrd.img from the slot.
kernels=("$target"/boot/vmlinuz-*)
kernel=$(basename "${kernels[0]}")
ln -sfn "$kernel" "$target/boot/bzImage"
ln -sfn "initrd.img-${kernel#vmlinuz-}" "$target/boot/initrd.img"
"$board/post-build.sh" "$target"

step "packing the root filesystem (squashfs, gzip)"
mksquashfs "$target" "$out/rootfs.squashfs" -comp gzip -noappend -quiet -no-progress > /dev/null

step "packing the next version's root filesystem ($next_version)"
echo "$next_version" > "$target/usr/share/panier/os-version"
mksquashfs "$target" "$out/rootfs-next.squashfs" -comp gzip -Xcompression-level 1 -noappend -quiet -no-progress > /dev/null

step "packing the broken-agent root filesystem for the fallback test ($broken_version)"
echo "$broken_version" > "$target/usr/share/panier/os-version"
printf '#!/bin/sh\necho "panier: deliberately broken build for the fallback test" >&2\nexit 1\n' > "$target/usr/bin/panier"
mksquashfs "$target" "$out/rootfs-broken.squashfs" -comp gzip -Xcompression-level 1 -noappend -quiet -no-progress > /dev/null
unmount_target

# GRUB's core images, with the modules and the early config of the defconfig.
modules() {
  sed -n "s/^BR2_TARGET_GRUB2_BUILTIN_MODULES_$1=\"\\(.*\\)\"/\\1/p" "$root/image/configs/panier_x86_64_defconfig"
}
read -r -a modules_pc <<< "$(modules PC)"
read -r -a modules_efi <<< "$(modules EFI)"
grub-mkimage -O i386-pc -p '(,gpt2)/boot/grub' -c "$board/grub-early.cfg" -o "$out/grub.img" "${modules_pc[@]}"
cp /usr/lib/grub/i386-pc/boot.img "$out/boot.img"
grub-mkimage -O x86_64-efi -p /EFI/BOOT -c "$board/grub-early.cfg" -o "$out/efi-part/EFI/BOOT/bootx64.efi" "${modules_efi[@]}"

step "assembling the disk image and the bundle (post-image.sh)"
BINARIES_DIR="$out" PANIER_SKIP_XZ=1 "$board/post-image.sh"

step "making the next version's and the broken-agent bundles"
"$root/image/scripts/make-bundle.sh" "$out/rootfs-next.squashfs" "$out/panier-next.raucb" "$next_version" \
  "$PANIER_RAUC_KEYS_DIR/cert.pem" "$PANIER_RAUC_KEYS_DIR/key.pem"
"$root/image/scripts/make-bundle.sh" "$out/rootfs-broken.squashfs" "$out/panier-broken.raucb" "$broken_version" \
  "$PANIER_RAUC_KEYS_DIR/cert.pem" "$PANIER_RAUC_KEYS_DIR/key.pem"
rm -f "$out/rootfs-broken.squashfs" "$out/rootfs-next.squashfs" "$out/rootfs.squashfs"
echo "$next_version" > "$out/next.version"
echo "$broken_version" > "$out/broken.version"
# The development release key post-build.sh put the public half of into the image.
install -m 0600 "$PANIER_RAUC_KEYS_DIR/release.key" "$out/release.key"

# The compressed size a workshop would download, measured without keeping the file (small
# disks): the disk image through `xz -0` (faster than post-image.sh's `xz -3`, a little bigger).
step "measuring the compressed disk image (xz -0)"
xz -T0 -0 -c "$out/panier.img" | wc -c > "$out/panier.img.xz.bytes"
echo "$inputs" > "$out/inputs"
step "done: $out/panier.img (inputs $inputs), $(( $(cat "$out/panier.img.xz.bytes") / 1000000 )) MB compressed"

#!/usr/bin/env bash
# Assembles the QEMU test image with the release image's own board files and overlay:
#   Debian root filesystem (build-rootfs.sh, cached) + buildroot-overlay/ + the panier binary,
#   finished by image/board/x86_64/post-build.sh, packed as an xz squashfs, then GRUB's images
#   (Debian's GRUB, same modules and early config as the defconfig's), then
#   image/board/x86_64/post-image.sh (grub.cfg, grubenv, genimage, MBR, RAUC bundle).
# Also makes panier-broken.raucb: the same system with a panier that cannot start, for the
# fallback test.
#
# Usage: build-test-image.sh [OUTPUT_DIR]   (default /var/cache/panier/image/test)
# Environment: PANIER_BIN, the agent binary (default: `cargo build -p panier`, debug, stripped
# into the image).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
board="$root/image/board/x86_64"
cache=${PANIER_IMAGE_CACHE:-/var/cache/panier/image}
out=${1:-$cache/test}
export PANIER_RAUC_KEYS_DIR="$cache/rauc-dev-keys"

step() { echo "build-test-image: $*" >&2; }

if [ -z "${PANIER_BIN:-}" ]; then
  step "building the agent"
  (cd "$root" && cargo build --quiet -p panier)
  PANIER_BIN="$(cd "$root" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/debug/panier"
fi
[ -x "$PANIER_BIN" ] || { echo "build-test-image: no agent binary at $PANIER_BIN" >&2; exit 1; }

rootfs_tar=$("$root/tests/qemu/build-rootfs.sh")

rm -rf "$out"
mkdir -p "$out/efi-part/EFI/BOOT"
target="$out/target"
mkdir "$target"
step "unpacking $(basename "$rootfs_tar")"
tar -C "$target" -xf "$rootfs_tar"

step "applying the overlay and the agent"
cp -a "$root/buildroot-overlay/." "$target/"
install -m 0755 "$PANIER_BIN" "$target/usr/bin/panier"
strip "$target/usr/bin/panier"
# GRUB's menu loads /boot/bzImage and, when present, /boot/initrd.img from the slot.
kernels=("$target"/boot/vmlinuz-*)
kernel=$(basename "${kernels[0]}")
ln -sfn "$kernel" "$target/boot/bzImage"
ln -sfn "initrd.img-${kernel#vmlinuz-}" "$target/boot/initrd.img"
"$board/post-build.sh" "$target"

step "packing the root filesystem (squashfs, xz)"
mksquashfs "$target" "$out/rootfs.squashfs" -comp xz -noappend -quiet -no-progress > /dev/null

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
BINARIES_DIR="$out" PANIER_VERSION="${PANIER_VERSION:-test-$(date -u +%H%M%S)}" "$board/post-image.sh"

step "making the broken-agent bundle for the fallback test"
printf '#!/bin/sh\necho "panier: deliberately broken build for the fallback test" >&2\nexit 1\n' > "$target/usr/bin/panier"
mksquashfs "$target" "$out/rootfs-broken.squashfs" -comp gzip -noappend -quiet -no-progress > /dev/null
"$root/image/scripts/make-bundle.sh" "$out/rootfs-broken.squashfs" "$out/panier-broken.raucb" broken \
  "$PANIER_RAUC_KEYS_DIR/cert.pem" "$PANIER_RAUC_KEYS_DIR/key.pem"
rm -rf "$target" "$out/rootfs-broken.squashfs"
step "done: $out/panier.img"

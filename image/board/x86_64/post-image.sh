#!/usr/bin/env bash
# Assembles the disk image and the RAUC update bundle from the images in BINARIES_DIR.
# Buildroot runs it as BR2_ROOTFS_POST_IMAGE_SCRIPT; the QEMU test image runs it the same way
# with a BINARIES_DIR it filled itself. Inputs in BINARIES_DIR:
#   rootfs.squashfs                 the root filesystem, kernel in /boot (gzip or xz: GRUB
#                                   cannot read zstd squashfs)
#   grub.img                        GRUB's core image for legacy BIOS (i386-pc)
#   boot.img                        GRUB's MBR code (found in Buildroot's build tree if absent)
#   efi-part/EFI/BOOT/bootx64.efi   GRUB for UEFI
# Outputs: panier.img (raw GPT disk), panier.img.xz, panier-<version>.raucb.
#
# Environment: PANIER_VERSION (default: the system's, else the date), PANIER_RAUC_CERT and
# PANIER_RAUC_KEY to sign the bundle (development keys otherwise, see rauc/README.md),
# PANIER_SKIP_XZ=1 to skip the compressed image.
set -euo pipefail

board=$(cd "$(dirname "$0")" && pwd)
binaries=${BINARIES_DIR:?BINARIES_DIR is not set}
# The version post-build.sh wrote into the system, when Buildroot says where (TARGET_DIR).
version=${PANIER_VERSION:-$(cat "${TARGET_DIR:-/nonexistent}/usr/share/panier/os-version" 2>/dev/null || date -u +%Y.%m.%d)}
keys_dir=${PANIER_RAUC_KEYS_DIR:-${BASE_DIR:-/var/cache/panier/image}/rauc-dev-keys}
work=$(mktemp -d "${TMPDIR:-/tmp}/panier-post-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

# GRUB's MBR code: Buildroot builds it but does not copy it out.
if [ ! -f "$binaries/boot.img" ]; then
  found=$(find "${BUILD_DIR:-/nonexistent}" -path '*/build-i386-pc/grub-core/boot.img' 2>/dev/null | head -n1)
  [ -n "$found" ] || { echo "post-image: no boot.img in $binaries nor in the build tree" >&2; exit 1; }
  cp "$found" "$binaries/boot.img"
fi

# The EFI partition: GRUB for UEFI, the one grub.cfg, and a fresh environment block.
efi_boot="$binaries/efi-part/EFI/BOOT"
[ -f "$efi_boot/bootx64.efi" ] || { echo "post-image: missing $efi_boot/bootx64.efi" >&2; exit 1; }
install -m 0644 "$board/grub.cfg" "$efi_boot/grub.cfg"
rm -f "$efi_boot/grubenv"
grub-editenv "$efi_boot/grubenv" create
grub-editenv "$efi_boot/grubenv" set ORDER="A B" A_OK=1 A_TRY=0 B_OK=0 B_TRY=0

rm -f "$binaries/panier.img" "$binaries/efi-part.vfat"
mkdir -p "$work/root"
genimage \
  --rootpath "$work/root" \
  --tmppath "$work/genimage" \
  --inputpath "$binaries" \
  --outputpath "$binaries" \
  --config "$board/genimage.cfg"

"$board/../../scripts/mbr-boot-code.sh" "$binaries/panier.img" "$binaries/boot.img" bios-boot

# The update bundle: the same root filesystem, signed.
cert=${PANIER_RAUC_CERT:-}
key=${PANIER_RAUC_KEY:-}
if [ -z "$cert" ] || [ -z "$key" ]; then
  "$board/../../scripts/make-dev-keys.sh" "$keys_dir" >&2
  cert="$keys_dir/cert.pem"
  key="$keys_dir/key.pem"
  echo "post-image: WARNING: signing the bundle with development keys from $keys_dir" >&2
fi
rm -f "$binaries"/panier-*.raucb
"$board/../../scripts/make-bundle.sh" "$binaries/rootfs.squashfs" "$binaries/panier-$version.raucb" "$version" "$cert" "$key"

if [ "${PANIER_SKIP_XZ:-0}" != 1 ]; then
  xz -T0 -3 -c "$binaries/panier.img" > "$binaries/panier.img.xz"
fi
echo "post-image: $binaries/panier.img and panier-$version.raucb ready" >&2

#!/usr/bin/env bash
# Builds the Debian root filesystem of the test image as a directory, cached under
# /var/cache/panier/image/ and keyed on this script and the Debian sources it uses, so that a
# second run costs nothing. Prints the directory's path on stdout. build-test-image.sh never
# writes into it: it mounts an overlay on top. (A directory rather than a tarball: the build
# machines' disks are small, and a tarball was extracted into a second copy at every build.)
#
# The release image's root filesystem comes from Buildroot (image/configs/); this one stands in
# for it where Buildroot's sources cannot be downloaded. It carries the same kinds of pieces
# (kernel with an initramfs, systemd, Docker Engine, nftables, RAUC, chrony, OpenSSH, restic,
# smartmontools, dmidecode and hdparm for `panier hw`; no nvme-cli, as in the release image:
# the wipe sends NVMe commands itself, and the suite's NVMe wipe proves it); the board files and
# the overlay are applied later, by build-test-image.sh, so that editing them does not
# rebuild it. Debian's kernel enables AppArmor, and Docker Engine then refuses to start
# containers without `apparmor_parser` to load its profile: the apparmor package is included.
#
# Debian sources: PANIER_DEBIAN_SOURCES names a sources file (one-line or deb822 `.sources`);
# by default the host's own Debian sources are used.
set -euo pipefail

cache=${PANIER_IMAGE_CACHE:-/var/cache/panier/image}
suite=bookworm
sources=${PANIER_DEBIAN_SOURCES:-}
if [ -z "$sources" ]; then
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    if [ -s "$f" ] && grep -q "$suite" "$f"; then sources=$f; break; fi
  done
fi
[ -n "$sources" ] || { echo "build-rootfs: no Debian sources found; set PANIER_DEBIAN_SOURCES" >&2; exit 1; }

packages=(
  linux-image-amd64 initramfs-tools kmod
  systemd systemd-sysv systemd-resolved udev dbus libpam-systemd
  docker.io containerd runc tini
  nftables iproute2 chrony openssh-server curl ca-certificates
  rauc rauc-service grub-common e2fsprogs fdisk util-linux dosfstools
  smartmontools dmidecode hdparm restic apparmor procps less
)

key=$( { cat "$0"; grep -v '^#' "$sources"; } | sha256sum | cut -c1-16)
rootfs="$cache/rootfs-$suite-$key"
if [ -d "$rootfs/usr" ]; then
  echo "$rootfs"
  exit 0
fi
mkdir -p "$cache"
echo "build-rootfs: building $rootfs (a few minutes; cached afterwards)" >&2

# Hooks run on the host with the root filesystem in "$1".
# - The kernel loads the root squashfs from an initramfs: squashfs and the disk drivers of
#   common machines and of QEMU must be in it, and nothing else: GRUB reads large files from a
#   squashfs slowly (a 36 MB initramfs took 16 s natively, minutes under TCG), so the
#   initramfs holds the listed modules only (MODULES=list), xz-compressed.
# - Kernel modules nobody needs on a wired server box (graphics, sound, radio, cameras) are
#   removed after the initramfs is made, to keep the slots small.
# - Documentation, manuals and locales are not installed (copyright files are kept).
# The hooks are expanded by mmdebstrap, not here:
# shellcheck disable=SC2016
hook_modules='printf "%s\n" squashfs overlay loop virtio_blk virtio_scsi virtio_pci ahci nvme sd_mod usb_storage uas xhci_pci ehci_pci vfat nls_cp437 nls_ascii >> "$1/etc/initramfs-tools/modules"'
# shellcheck disable=SC2016
hook_trim='cd "$1"/usr/lib/modules/* && rm -rf kernel/drivers/gpu kernel/sound kernel/drivers/media kernel/drivers/net/wireless kernel/drivers/infiniband kernel/drivers/staging kernel/drivers/bluetooth kernel/net/bluetooth kernel/drivers/iio kernel/drivers/isdn kernel/net/mac80211 kernel/net/wireless kernel/drivers/input/touchscreen kernel/drivers/video/fbdev && chroot "$1" depmod "$(basename "$PWD")"'
# shellcheck disable=SC2016
hook_clean='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/usr/share/man/* "$1"/usr/share/locale/* "$1"/usr/share/info/*'

tmp="$rootfs.tmp"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mmdebstrap --variant=minbase --mode=root --format=directory \
  --include="$(IFS=,; echo "${packages[*]}")" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --essential-hook="mkdir -p \"\$1/etc/initramfs-tools/conf.d\" && $hook_modules && printf 'MODULES=list\nCOMPRESS=xz\n' > \"\$1/etc/initramfs-tools/conf.d/panier.conf\"" \
  --customize-hook="$hook_trim" \
  --customize-hook="$hook_clean" \
  "$suite" "$tmp" "$sources" >&2
mv "$tmp" "$rootfs"
# Keep only the newest root filesystem (and no tarball of the former layout).
find "$cache" -maxdepth 1 -name "rootfs-$suite-*" ! -path "$rootfs" -exec rm -rf {} +
echo "$rootfs"

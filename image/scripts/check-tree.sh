#!/usr/bin/env bash
# The image tree checks (cargo xtask test, suite "image tree checks"), without Buildroot:
# Runs shellcheck on every script, grub-script-check on the GRUB configs, `nft -c` on the boot
# firewall, `systemd-analyze verify` on the overlay's units, no symbol twice in the defconfig,
# a real genimage + MBR run of the board's layout with stand-in contents, and the kernel
# fragments against Debian's kernel source.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
failed=0
passed=0
check() {
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); echo "ok: $name"; else failed=$((failed + 1)); echo "FAILED: $name"; fi
}

# Scripts: bash ones by their shebang, the overlay's POSIX sh ones as sh.
mapfile -t bash_scripts < <(grep -rlE '^#!/usr/bin/env bash' image tests/qemu hw 2>/dev/null; ls tests/qemu/lib.sh)
mapfile -t tool_scripts < <(grep -rlE '^#!/usr/bin/env bash' tools 2>/dev/null)
mapfile -t sh_scripts < <(grep -rlE '^#!/bin/sh' buildroot-overlay; echo buildroot-overlay/usr/libexec/panier/common.sh)
check "shellcheck (bash)" shellcheck -x "${bash_scripts[@]}"
# The other domains' tools (benchmarks, installers): warnings and errors, not style notes.
check "shellcheck (tools, warnings)" shellcheck -x -S warning "${tool_scripts[@]}"
check "shellcheck (sh)" shellcheck -s sh -e SC1091 "${sh_scripts[@]}"

check "grub-script-check grub.cfg" grub-script-check image/board/x86_64/grub.cfg
check "grub-script-check grub-early.cfg" grub-script-check image/board/x86_64/grub-early.cfg

check "nft -c nftables.conf" nft -c -f buildroot-overlay/etc/nftables.conf

# systemd-analyze verify resolves dependencies and checks that commands exist: verify in a root
# made of the host's units (systemd's targets, Debian's docker.service for our drop-in), the
# overlay on top, and stand-ins for the programs the units run. Any message fails the check.
verify_units() {
  local tmp rc=0 bin
  tmp=$(mktemp -d)
  mkdir -p "$tmp/usr/lib/systemd" "$tmp/usr/bin" "$tmp/usr/sbin" "$tmp/bin"
  cp -a /usr/lib/systemd/system "$tmp/usr/lib/systemd/"
  cp -a buildroot-overlay/. "$tmp/"
  for bin in usr/bin/panier usr/sbin/nft usr/bin/dockerd usr/sbin/dockerd bin/kill bin/sh; do
    printf '#!/bin/sh\n' > "$tmp/$bin"
    chmod +x "$tmp/$bin"
  done
  systemd-analyze verify --root="$tmp" --man=no "$tmp"/usr/lib/systemd/system/{panier*,nftables,docker}.service > "$tmp/out" 2>&1 || rc=1
  if [ -s "$tmp/out" ]; then cat "$tmp/out"; rc=1; fi
  rm -rf "$tmp"
  return "$rc"
}
check "systemd-analyze verify (overlay units)" verify_units

no_duplicate_symbols() {
  local dups
  dups=$(sed -nE 's/^(BR2_[A-Za-z0-9_]+)=.*/\1/p; s/^# (BR2_[A-Za-z0-9_]+) is not set/\1/p' image/configs/panier_x86_64_defconfig | sort | uniq -d)
  [ -z "$dups" ] || { echo "defined twice: $dups"; return 1; }
}
check "defconfig: no symbol twice" no_duplicate_symbols

# The board's genimage layout and MBR patch, with stand-in contents and Debian's GRUB.
layout() {
  local tmp rc=0
  tmp=$(mktemp -d)
  mkdir -p "$tmp/bin/efi-part/EFI/BOOT" "$tmp/sq/boot"
  head -c 65536 /dev/urandom > "$tmp/sq/boot/bzImage"
  mksquashfs "$tmp/sq" "$tmp/bin/rootfs.squashfs" -comp xz -quiet -no-progress > /dev/null
  grub-mkimage -O i386-pc -p '(,gpt2)/boot/grub' -c image/board/x86_64/grub-early.cfg -o "$tmp/bin/grub.img" boot linux normal biosdisk part_gpt fat squash4
  cp /usr/lib/grub/i386-pc/boot.img "$tmp/bin/"
  grub-mkimage -O x86_64-efi -p /EFI/BOOT -o "$tmp/bin/efi-part/EFI/BOOT/bootx64.efi" normal part_gpt fat
  mkdir -p "$tmp/keys"
  BINARIES_DIR="$tmp/bin" PANIER_RAUC_KEYS_DIR="$tmp/keys" PANIER_SKIP_XZ=1 PANIER_VERSION=check \
    image/board/x86_64/post-image.sh > "$tmp/log" 2>&1 || { cat "$tmp/log"; rc=1; }
  if [ "$rc" = 0 ]; then
    sfdisk --json "$tmp/bin/panier.img" | jq -r '.partitiontable.partitions[].name' | tr '\n' ' ' | grep -qx 'bios-boot panier-efi panier-system-a panier-system-b panier-data ' || { echo "unexpected partitions"; rc=1; }
    # boot.img's pointer at 0x5c names the BIOS boot partition's first sector (2048).
    [ "$(od -A n -t u8 -j 92 -N 8 "$tmp/bin/panier.img" | tr -d ' ')" = 2048 ] || { echo "MBR does not point at core.img"; rc=1; }
    rauc info --keyring="$tmp/keys/cert.pem" "$tmp/bin/panier-check.raucb" > "$tmp/info" 2>&1 || { cat "$tmp/info"; echo "bundle does not verify"; rc=1; }
    # The verity format: RAUC checks every block it reads against the signed root hash.
    grep -qE '^Bundle Format:[[:space:]]+verity$' "$tmp/info" || { echo "the bundle is not in the verity format: $(grep -a 'Bundle Format' "$tmp/info")"; rc=1; }
  fi
  rm -rf "$tmp"
  return "$rc"
}
check "genimage layout, MBR boot code and signed bundle (post-image.sh)" layout

# Verity bundles need the box to refuse plain ones (system.conf) and its kernel to mount them:
# squashfs on a loop device under a dm-verity target hashing with SHA-256, built in (RAUC
# installs before any module could be loaded from a new slot). check-kernel-fragments.sh
# then checks that each line survives the kernel's Kconfig.
verity_needs() {
  local rc=0 option
  grep -qx 'bundle-formats=-plain' image/board/x86_64/rauc/system.conf || { echo "system.conf does not refuse plain bundles"; rc=1; }
  grep -qx 'format=verity' image/scripts/make-bundle.sh || { echo "make-bundle.sh does not make verity bundles"; rc=1; }
  for option in CONFIG_SQUASHFS CONFIG_BLK_DEV_LOOP CONFIG_MD CONFIG_BLK_DEV_DM CONFIG_DM_VERITY CONFIG_CRYPTO_SHA256; do
    grep -qx "$option=y" image/board/x86_64/kernel/*.config || { echo "no $option=y in the kernel fragments (RAUC's verity bundles)"; rc=1; }
  done
  return "$rc"
}
check "RAUC verity bundles: plain refused, the kernel options in the fragments" verity_needs

# The kernel fragments against Debian's kernel source (linux-source-6.1, tools/install-deps.sh),
# unpacked once into the cache.
kernel_tarballs=(/usr/src/linux-source-*.tar.xz)
kernel_fragments() {
  local tarball=${kernel_tarballs[0]} dir
  [ -f "$tarball" ] || { echo "no /usr/src/linux-source-*.tar.xz (Debian's linux-source-6.1)"; return 1; }
  dir="${PANIER_IMAGE_CACHE:-/var/cache/panier/image}/$(basename "$tarball" .tar.xz)-$(stat -c %Y "$tarball")"
  if [ ! -d "$dir" ]; then
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    tar -xJf "$tarball" -C "$dir.tmp" --strip-components=1 && mv "$dir.tmp" "$dir"
  fi
  image/scripts/check-kernel-fragments.sh "$dir"
}
check "kernel fragments against $(basename "${kernel_tarballs[0]}" .tar.xz)" kernel_fragments

echo "image tree checks: $passed passed, $failed failed"
[ "$failed" = 0 ]

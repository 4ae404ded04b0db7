#!/usr/bin/env bash
# Makes a GPT disk image boot under legacy BIOS: writes GRUB's boot.img into the protective
# MBR and points it at GRUB's core image in the BIOS boot partition.
#
# grub-bios-setup does the same on a real disk, but on an image file it probes the host's own
# disks and fails; the two pointers it writes are plain little-endian sector numbers:
# - boot.img, offset 0x5c: the first sector of core.img;
# - core.img's first sector (diskboot.img), offset 0x1f4: the sector where the rest of core.img
#   starts (grub-mkimage already wrote the length next to it).
# boot.img's code (the first 440 bytes) is copied; the partition table after it is kept.
#
# Usage: mbr-boot-code.sh DISK_IMAGE BOOT_IMG BIOS_BOOT_PARTITION_NAME
set -euo pipefail

disk=${1:?usage: mbr-boot-code.sh DISK_IMAGE BOOT_IMG PARTITION_NAME}
boot_img=${2:?missing BOOT_IMG}
name=${3:?missing PARTITION_NAME}

start=$(sfdisk --json "$disk" | jq -r --arg n "$name" '.partitiontable.partitions[] | select(.name == $n) | .start')
[ -n "$start" ] || { echo "mbr-boot-code: no partition named $name in $disk" >&2; exit 1; }
sector=$(sfdisk --json "$disk" | jq -r '.partitiontable.sectorsize // 512')

# Prints a number as 8 little-endian bytes.
le64() {
  local value=$1 i out=""
  for i in 0 1 2 3 4 5 6 7; do
    out+=$(printf '\\x%02x' $(( (value >> (8 * i)) & 0xff )))
  done
  printf '%b' "$out"
}

# diskboot.img's default blocklist starts at sector 2: check that core.img is GRUB's i386-pc
# image before patching it.
default_start=$(od -A n -t u8 -j $(( start * sector + 0x1f4 )) -N 8 "$disk" | tr -d ' ')
[ "$default_start" = 2 ] || { echo "mbr-boot-code: partition $name does not start with GRUB's diskboot.img" >&2; exit 1; }

dd if="$boot_img" of="$disk" bs=440 count=1 conv=notrunc status=none
le64 "$start" | dd of="$disk" bs=1 seek=$((0x5c)) conv=notrunc status=none
# Boot drive 0xff: use the drive the BIOS booted from. Disable the floppy workaround jump.
printf '\xff' | dd of="$disk" bs=1 seek=$((0x64)) conv=notrunc status=none
printf '\x90\x90' | dd of="$disk" bs=1 seek=$((0x66)) conv=notrunc status=none
le64 $(( start + 1 )) | dd of="$disk" bs=1 seek=$(( start * sector + 0x1f4 )) conv=notrunc status=none

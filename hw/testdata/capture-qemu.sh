#!/usr/bin/env bash
# Re-makes the fixture machines captured from QEMU (hw/testdata/machines/qemu-*).
#
# Each machine boots the project's QEMU test image (tests/qemu/build-test-image.sh) from its own
# emulated disk, with the SSH key provisioned through the EFI partition (which opens SSH from the
# agent's first start); `panier hw capture` runs in the guest and the capture is copied into
# hw/testdata/machines/<machine>/, with a README.md holding the exact QEMU command line and what
# that command line set (SMBIOS strings, serial numbers, SMART warnings, rotation rates).
# The machine without a network card gets one for SSH, which is unplugged through QEMU's monitor
# while the capture runs (a timer started over SSH), then plugged again to fetch the capture.
#
# Not part of the test suite: it takes minutes of QEMU (TCG) per machine. The captures are
# committed files; tests/fixtures.rs holds their expected verdicts.
#
# Usage: hw/testdata/capture-qemu.sh [MACHINE...]    (default: all of them, one VM at a time)
# Environment: PANIER_TEST_IMAGE_DIR (default /var/cache/panier/image/test; brought up to date
# with this checkout first, a no-op when nothing changed), PANIER_BIN (the agent for the image,
# as build-test-image.sh takes it), PANIER_CAPTURE_WORK (default /var/tmp/panier-capture:
# disks, consoles and keys, deleted at the end of each machine unless PANIER_CAPTURE_KEEP=1).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# This script starts QEMU itself (a guest reboot stays inside QEMU): lib.sh's restarts are off.
VM_ON_REBOOT=off
# shellcheck source=tests/qemu/lib.sh
. "$repo/tests/qemu/lib.sh"

image_dir=${PANIER_TEST_IMAGE_DIR:-/var/cache/panier/image/test}
work=${PANIER_CAPTURE_WORK:-/var/tmp/panier-capture}
all=(qemu-q35-ovmf-nvme-failing qemu-q35-ovmf-nvme-e1000e qemu-q35-ovmf-sata-ssd-e1000e
     qemu-pc-seabios-hdd-e1000 qemu-q35-seabios-virtio-2gb qemu-q35-ovmf-usb-boot-no-nic)
[ "$#" -gt 0 ] || set -- "${all[@]}"

"$repo/tests/qemu/build-test-image.sh" "$image_dir"
commit=$(git -C "$repo" describe --always --dirty)

# machine_setup NAME: sets FIRMWARE, QEMU_ARGS (everything after the common options), SET_BY_US
# (what the command line set, for the README), DISK_SIZE (the boot disk), HOT_UNPLUG (the NIC to
# unplug during the capture, if any). The boot disk is $VM_DIR/disk.img, other disks beside it.
machine_setup() {
  # The boot disk (attached below by each machine's controller) and the user-mode network with
  # SSH forwarded.
  local disk0="file=$VM_DIR/disk.img,format=raw,if=none,id=disk0,cache=unsafe"
  local net0="user,id=net0,hostfwd=tcp:127.0.0.1:$VM_SSH-:22"
  DISK_SIZE=40G HOT_UNPLUG=""
  case $1 in
    qemu-q35-ovmf-nvme-failing)
      FIRMWARE=ovmf
      QEMU_ARGS=(-machine q35 -cpu max -m 4096
        -drive "$disk0"
        -device "nvme,drive=disk0,serial=PANIERNVMEFAIL01,smart_critical_warning=4"
        -netdev "$net0" -device "virtio-net-pci,netdev=net0"
        -smbios "type=0,vendor=HP,version=Q21 Ver. 02.05.01,date=03/15/2019"
        -smbios "type=1,manufacturer=HP,product=HP EliteDesk 800 G4 DM 65W,version=PANIER-QEMU,serial=PANIERQEMUHP01")
      SET_BY_US="SMBIOS type 0 (BIOS vendor, version, date) and type 1 (maker, product, version, serial) as an HP EliteDesk 800 G4 DM; the NVMe serial; the NVMe SMART critical warning 0x04 (reliability degraded, QEMU's \`smart_critical_warning\` property)" ;;
    qemu-q35-ovmf-nvme-e1000e)
      FIRMWARE=ovmf
      QEMU_ARGS=(-machine q35 -cpu max -m 8192
        -drive "$disk0"
        -device "nvme,drive=disk0,serial=PANIERNVME02"
        -netdev "$net0" -device "e1000e,netdev=net0"
        -smbios "type=0,vendor=Intel Corp.,version=BNKBL357.86A.0088.2022.0125.1102,date=01/25/2022"
        -smbios "type=1,manufacturer=Intel Corporation,product=NUC7i5BNH,version=J31169-310,serial=PANIERQEMUNUC1"
        -smbios "type=2,manufacturer=Intel Corporation,product=NUC7i5BNB")
      SET_BY_US="SMBIOS type 0, type 1 and type 2 (board) as an Intel NUC7i5BNH; the NVMe serial; 8 GB of memory; the NVMe disk is healthy (no SMART warning), the counterpart of \`qemu-q35-ovmf-nvme-failing\`" ;;
    qemu-q35-ovmf-sata-ssd-e1000e)
      FIRMWARE=ovmf
      QEMU_ARGS=(-machine q35 -cpu max -m 4096
        -drive "$disk0"
        -device "ide-hd,bus=ide.0,drive=disk0,rotation_rate=1,model=PANIER QEMU SSD,serial=PANIERSSD01"
        -netdev "$net0" -device "e1000e,netdev=net0"
        -smbios "type=0,vendor=LENOVO,version=M1UKT4BA,date=05/20/2019"
        -smbios "type=1,manufacturer=LENOVO,product=10T7S0BE00,version=ThinkCentre M720q,serial=PANIERQEMULN01")
      SET_BY_US="SMBIOS type 0 and type 1 as a Lenovo ThinkCentre M720q (machine type 10T7); the SATA disk's model, serial and rotation rate 1 (\"non-rotating\": an SSD to the kernel and smartctl)" ;;
    qemu-pc-seabios-hdd-e1000)
      FIRMWARE=seabios
      QEMU_ARGS=(-machine pc -cpu qemu64 -m 4096
        -drive "$disk0"
        -device "ahci,id=sata" -device "ide-hd,bus=sata.0,drive=disk0,rotation_rate=7200,model=PANIER QEMU HDD,serial=PANIERHDD01"
        -netdev "$net0" -device "e1000,netdev=net0"
        -smbios "type=0,vendor=Dell Inc.,version=1.4.4,date=11/02/2016"
        -smbios "type=1,manufacturer=Dell Inc.,product=OptiPlex 3040,serial=PANIERQEMUDL01")
      SET_BY_US="SMBIOS type 0 and type 1 as a Dell OptiPlex 3040; the SATA disk's model, serial and rotation rate 7200 rpm; an AHCI controller added to the i440FX machine (the test image's initramfs has no driver for the machine's own PIIX IDE); the qemu64 CPU model (no AES instructions)" ;;
    qemu-q35-seabios-virtio-2gb)
      FIRMWARE=seabios
      QEMU_ARGS=(-machine q35 -cpu max -m 2048
        -drive "file=$VM_DIR/disk.img,format=raw,if=virtio,cache=unsafe"
        -netdev "$net0" -device "virtio-net-pci,netdev=net0")
      SET_BY_US="nothing but the machine itself: QEMU's own SMBIOS strings, a virtio disk (no SMART) and 2 GB of memory, as the QEMU system tests run the box" ;;
    qemu-q35-ovmf-usb-boot-no-nic)
      FIRMWARE=ovmf DISK_SIZE=8G HOT_UNPLUG=nic0
      truncate -s 64G "$VM_DIR/internal.img"
      QEMU_ARGS=(-machine q35 -cpu max -m 4096
        -device "qemu-xhci,id=xhci"
        -drive "file=$VM_DIR/disk.img,format=raw,if=none,id=stick,cache=unsafe"
        -device "usb-storage,bus=xhci.0,drive=stick,removable=on,serial=PANIERUSB01,bootindex=0"
        -drive "file=$VM_DIR/internal.img,format=raw,if=none,id=disk1,cache=unsafe"
        -device "ide-hd,bus=ide.0,drive=disk1,rotation_rate=1,model=PANIER QEMU SSD,serial=PANIERSSD02"
        -device "pcie-root-port,id=rp1,chassis=1,slot=1"
        -netdev "$net0" -device "virtio-net-pci,netdev=net0,bus=rp1,id=nic0")
      SET_BY_US="the USB stick (the test image, removable, serial PANIERUSB01) as the boot disk, an empty 64 GB SATA SSD (model, serial, rotation rate 1) as the internal disk, QEMU's own SMBIOS strings; the virtio network card (on a PCIe root port) used for SSH was unplugged through QEMU's monitor (\`device_del nic0\`) before the capture ran, and plugged back afterwards" ;;
    *) fail "unknown machine $1 (known: ${all[*]})" ;;
  esac
}

# shell_words ARG...: the command line as one would type it, one option per line.
shell_words() {
  local arg line=$1
  shift
  for arg in "$@"; do
    case $arg in
      *[!A-Za-z0-9_./:=,@%+-]*) arg="'$arg'" ;;
    esac
    case $arg in
      -*) printf '%s \\\n' "$line"; line="  $arg" ;;
      *) line="$line $arg" ;;
    esac
  done
  printf '%s\n' "$line"
}

# capture_machine NAME: boots it, captures it, copies the capture into hw/testdata/machines/NAME.
capture_machine() {
  local name=$1 dest="$here/machines/$1" firmware_args=() started
  VM_DIR="$work/$name"
  rm -rf "$VM_DIR"
  mkdir -p "$VM_DIR"
  VM_SSH=$(free_port)
  machine_setup "$name"
  cp --sparse=always "$image_dir/panier.img" "$VM_DIR/disk.img"
  truncate -s "$DISK_SIZE" "$VM_DIR/disk.img"
  VM_KEY="$VM_DIR/id_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C panier-capture -f "$VM_KEY"
  efi_put "$VM_DIR/disk.img" "$VM_KEY.pub" /panier/authorized_keys
  if [ "$FIRMWARE" = ovmf ]; then
    cp /usr/share/OVMF/OVMF_VARS_4M.fd "$VM_DIR/OVMF_VARS.fd"
    firmware_args=(-drive "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"
                   -drive "if=pflash,format=raw,file=$VM_DIR/OVMF_VARS.fd")
  fi
  local cmd=(qemu-system-x86_64 -accel tcg -smp 2 "${firmware_args[@]}" "${QEMU_ARGS[@]}"
             -display none -serial "file:$VM_DIR/serial.log" -monitor "unix:$VM_DIR/monitor.sock,server=on,wait=off")
  log "$name: starting ($FIRMWARE)"
  : > "$VM_DIR/serial.log"
  VM_STARTED_AT=$(date +%s)
  nice -n 10 "${cmd[@]}" &
  echo $! > "$VM_DIR/qemu.pid"
  wait_ssh 900
  started=$(( $(date +%s) - VM_STARTED_AT ))
  log "$name: SSH answers after ${started}s"

  vm_ssh rm -rf /data/capture
  vm_ssh mkdir -p /data/capture
  if [ -n "$HOT_UNPLUG" ]; then
    vm_ssh systemd-run --unit=panier-capture --on-active=60 /bin/sh -c "'panier hw capture /data/capture/$name --lang en > /data/capture/log.txt 2>&1; echo \$? > /data/capture/status'"
    vm_monitor "device_del $HOT_UNPLUG" > /dev/null
    sleep 150
    vm_monitor "device_add virtio-net-pci,netdev=net0,bus=rp1,id=$HOT_UNPLUG" > /dev/null
    wait_ssh 300
    vm_ssh cat /data/capture/log.txt >&2
    [ "$(vm_ssh cat /data/capture/status)" = 0 ] || fail "$name: the capture failed"
  else
    vm_ssh panier hw capture "/data/capture/$name" --lang en >&2 || fail "$name: the capture failed"
  fi

  rm -rf "$dest"
  vm_ssh tar -C /data/capture -cf - "$name" | tar -C "$here/machines" -xf -
  if [ -n "$HOT_UNPLUG" ]; then
    jq -e '.nics == []' "$dest/probe.json" > /dev/null || fail "$name: the network card was still there during the capture"
  fi
  local qemu_version kernel
  qemu_version=$(qemu-system-x86_64 --version | head -n 1)
  kernel=$(vm_ssh uname -r)
  vm_stop
  {
    echo "# $name"
    echo
    echo "Captured by \`hw/testdata/capture-qemu.sh\` on $(date -u +%Y-%m-%d): \`panier hw capture\`"
    echo "inside the project's QEMU test image (Debian 12 kernel $kernel; agent and image from commit"
    echo "$commit, image inputs $(cat "$image_dir/inputs")), on $qemu_version (TCG). The boot disk"
    echo "is that image grown to $DISK_SIZE (sparse), with an SSH key in its EFI partition."
    echo "Every other file here is what the guest's probe read; nothing was edited by hand."
    echo
    echo "This is emulated hardware, not a real machine: the disks' SMART data, the firmware"
    echo "tables and the network cards are QEMU's. Set by the command line: $SET_BY_US."
    echo
    echo "QEMU command line (\`\$VM_DIR\` is the script's working directory for this machine):"
    echo
    echo '```sh'
    shell_words "${cmd[@]}" | sed "s|$VM_DIR|\$VM_DIR|g; s|tcp:127.0.0.1:$VM_SSH-:22|tcp:127.0.0.1:SSH_PORT-:22|"
    echo '```'
  } > "$dest/README.md"
  [ "${PANIER_CAPTURE_KEEP:-0}" = 1 ] || rm -rf "$VM_DIR"
  log "$name: captured in $dest (${started}s to SSH)"
}

trap 'vm_alive && kill "$(vm_pid)" 2>/dev/null; true' EXIT
for name in "$@"; do
  capture_machine "$name"
done

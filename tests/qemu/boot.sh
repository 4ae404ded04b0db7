#!/usr/bin/env bash
# Boots the test image interactively, for development. The serial console is this terminal
# (Ctrl-a x quits QEMU, Ctrl-a c toggles QEMU's monitor); the box's HTTP, HTTPS and SSH are
# forwarded to local ports printed below. Your SSH public key (or a fresh one) is provisioned;
# `ssh -p PORT root@127.0.0.1` logs in once SSH is opened in the firewall (Firewall page, or
# before the agent has started, while the boot-time table is up).
#
# Usage: tests/qemu/boot.sh [seabios|ovmf]
# Environment: PANIER_TEST_IMAGE_DIR (default /var/cache/panier/image/test, built when missing),
# PANIER_VM_DIR (default /var/tmp/panier-dev-vm: the disk persists between runs; delete the
# directory to start from a fresh disk).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/qemu/lib.sh
. "$here/lib.sh"

firmware=${1:-seabios}
image_dir=${PANIER_TEST_IMAGE_DIR:-/var/cache/panier/image/test}
[ -f "$image_dir/panier.img" ] || "$here/build-test-image.sh" "$image_dir"

VM_DIR=${PANIER_VM_DIR:-/var/tmp/panier-dev-vm}
mkdir -p "$VM_DIR"
disk="$VM_DIR/disk.img"
if [ ! -f "$disk" ]; then
  cp --sparse=always "$image_dir/panier.img" "$disk"
  truncate -s 8G "$disk"
  key=""
  for candidate in ~/.ssh/id_ed25519.pub ~/.ssh/id_rsa.pub; do
    if [ -f "$candidate" ]; then key=$candidate; break; fi
  done
  if [ -z "$key" ]; then
    ssh-keygen -q -t ed25519 -N '' -f "$VM_DIR/id_ed25519"
    key="$VM_DIR/id_ed25519.pub"
  fi
  efi_put "$disk" "$key" /panier/authorized_keys
fi

http_port=$(free_port)
https_port=$(free_port)
ssh_port=$(free_port)
fw=()
if [ "$firmware" = ovmf ]; then
  [ -f "$VM_DIR/OVMF_VARS.fd" ] || cp /usr/share/OVMF/OVMF_VARS_4M.fd "$VM_DIR/OVMF_VARS.fd"
  fw=(-drive "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"
      -drive "if=pflash,format=raw,file=$VM_DIR/OVMF_VARS.fd")
fi
echo "Panier dev VM ($firmware): http://127.0.0.1:$http_port/  https://127.0.0.1:$https_port/admin  ssh -p $ssh_port root@127.0.0.1" >&2
accel=tcg
if [ "${PANIER_KVM:-0}" = 1 ]; then accel=kvm; fi
exec qemu-system-x86_64 -machine q35 -accel "$accel" -cpu max -smp 2 -m 2048 "${fw[@]}" \
  -drive "file=$disk,format=raw,if=virtio" \
  -nic "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:$http_port-:80,hostfwd=tcp:127.0.0.1:$https_port-:443,hostfwd=tcp:127.0.0.1:$ssh_port-:22" \
  -nographic -serial mon:stdio

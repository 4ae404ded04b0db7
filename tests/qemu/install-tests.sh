#!/usr/bin/env bash
# QEMU system test of install mode (workshop flow E), as a refurbishment workshop does it:
#   1. the test image on a USB stick (qemu-xhci + usb-storage, UEFI with OVMF), a blank 40 GB
#      internal NVMe disk: panier ready, the console banner gives the install address, the
#      API offers the NVMe disk and not the stick;
#   2. the install through the API over HTTPS with the setup code read from the console (the
#      wizard page's routes): a wrong serial refused, then the job (verdict, wipe by the NVMe
#      controller, copy and read-back, provisioning), its result, the wipe certificate and the
#      refurbishment sheet; "Restart now";
#   3. with the stick removed, the internal disk alone under legacy BIOS (SeaBIOS: GRUB's MBR
#      code and core image as copied): panier ready with the new box's name, setup with the
#      setup code from the sheet, root on the NVMe disk, data partition grown, the stick's SSH
#      key not carried over.
# With a second USB stick carrying an image pack of test-site (made on the host with
# `panier pack create --local` from the busybox image, signed with a workshop key the install
# stick is told to trust), the install pre-installs test-site: the sheet lists it, and the
# installed box answers test-site through its proxy after its first boot, before any setup.
# Prints figures (stick boot, install duration, copy and read-back throughput, boot of the
# installed box) and a closing "N passed, N failed" line.
#
# Environment: PANIER_TEST_IMAGE_DIR, an image already built by build-test-image.sh (default:
# build-test-image.sh's default, shared with run-tests.sh and rebuilt only when an input changed); PANIER_BIN (see build-test-image.sh);
# PANIER_KEEP_VM_DIR=1 keeps the VM directory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/qemu/lib.sh
. "$here/lib.sh"

suite_begin "qemu install tests" install
# A restart of the box is where the workshop pulls the stick out: QEMU stays off.
VM_ON_REBOOT="exit"

use_test_image

STICK_SERIAL=PANIERSTICK1
NVME_SERIAL=PANIERNVME42
BOX=mediatheque-test

# wait_exit TIMEOUT: waits until QEMU has exited (a reboot or a power-off: VM_ON_REBOOT=exit).
wait_exit() {
  local start
  start=$(date +%s)
  while vm_alive; do
    [ $(( $(date +%s) - start )) -lt "$1" ] || fail "QEMU did not exit within $1 s"
    sleep 2
  done
  rm -f "$VM_DIR/qemu.pid"
}

# api METHOD PATH [JSON]: the install API over HTTPS with the stick's setup code; prints the
# body, fails on an HTTP error.
api() {
  local method=$1 path=$2 body=${3:-}
  if [ -n "$body" ]; then
    https "$path" -X "$method" -H "X-Setup-Code: $code" -H 'Content-Type: application/json' -d "$body"
  else
    https "$path" -X "$method" -H "X-Setup-Code: $code"
  fi
}

# --- 1. The stick boots; install mode is offered ----------------------------------------------
stick="$VM_DIR/stick.img"
internal="$VM_DIR/internal.img"
cp --sparse=always "$image_dir/panier.img" "$stick"
truncate -s 4G "$stick"
# The workshop reaches its stick over SSH (headless provisioning); the box must not inherit it.
VM_KEY="$VM_DIR/id_ed25519"
ssh-keygen -q -t ed25519 -N '' -C panier-install-test -f "$VM_KEY"
efi_put "$stick" "$VM_KEY.pub" /panier/authorized_keys
truncate -s 40G "$internal"
stick_uuid=$(sfdisk --json "$stick" | jq -r .partitiontable.id)

# The workshop's pack of test-site on a second stick (ext4, label PAQUETS).
root_dir=$(cd "$here/../.." && pwd)
bin=${PANIER_BIN:-$(cd "$root_dir" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/debug/panier}
engine=${PANIER_TEST_ENGINE:-$(bash "$root_dir/tools/start-engine.sh" /run/panier-test /var/lib/panier-test/engine)}
if ! docker -H "$engine" image inspect panier-test/busybox:1 > /dev/null 2>&1; then
  busybox_tar "$VM_DIR/busybox.tar"
  docker -H "$engine" import --change 'CMD ["sh"]' "$VM_DIR/busybox.tar" panier-test/busybox:1 > /dev/null
  rm "$VM_DIR/busybox.tar"
fi
mkdir -p "$VM_DIR/pack-catalog/test-site" "$VM_DIR/pack-stick"
cp "$root_dir"/tests/catalog/site/* "$VM_DIR/pack-catalog/test-site/"
sed -i 's/^id = "site"$/id = "test-site"/' "$VM_DIR/pack-catalog/test-site/manifest.toml"
"$bin" pack key new "$VM_DIR/atelier.key" > /dev/null
"$bin" pack create test-site --local --out "$VM_DIR/pack-stick/panier-pack" --key "$VM_DIR/atelier.key" \
  --engine "$engine" --catalog "$VM_DIR/pack-catalog" > /dev/null
packs="$VM_DIR/packs.img"
truncate -s 64M "$packs"
mkfs.ext4 -q -L PAQUETS -d "$VM_DIR/pack-stick" "$packs"
rm -rf "$VM_DIR/pack-stick"

vm_boot ovmf \
  -device qemu-xhci,id=xhci \
  -drive "if=none,id=stick,file=$stick,format=raw,cache=unsafe" \
  -device "usb-storage,bus=xhci.0,drive=stick,serial=$STICK_SERIAL,bootindex=1" \
  -drive "if=none,id=packs,file=$packs,format=raw,cache=unsafe" \
  -device "usb-storage,bus=xhci.0,drive=packs,serial=PANIERPACKS1" \
  -drive "if=none,id=internal,file=$internal,format=raw,cache=unsafe" \
  -device "nvme,serial=$NVME_SERIAL,drive=internal,bootindex=2"
t=$(wait_serial 'panier-ready: http' 900)
figure "power-on → panier ready, from the USB stick (OVMF, first boot): $t s"
pass "the test image boots from a USB stick (qemu-xhci, usb-storage) under OVMF"

wait_serial 'Install onto the internal disk : https://[0-9.]+/admin/setup/install' 120 > /dev/null
[ "$(https /api/v1/health | jq -r .install_mode)" = true ] || fail "health does not say install mode: $(https /api/v1/health)"
pass "install mode offered: health says so, the console banner gives the install address"

wait_serial 'Setup code : [A-Z0-9-]{8,}' 120 > /dev/null
code=$(grep -aoE 'Setup code : [A-Z0-9-]{8,}' "$VM_DIR/serial.log" | tail -n 1 | sed 's/.*: //')
offer=$(api GET /api/v1/install) || fail "GET /api/v1/install with the setup code failed"
[ "$(jq -r '.offered and (.source | test("^/dev/sd"))' <<< "$offer")" = true ] || fail "install mode not offered from the stick: $offer"
[ "$(jq -r --arg s "$NVME_SERIAL" '[.targets[] | select(.serial == $s and .path == "/dev/nvme0n1")] | length' <<< "$offer")" = 1 ] \
  || fail "the internal NVMe disk is not offered: $offer"
[ "$(jq -r --arg s "$STICK_SERIAL" '[.targets[] | select(.serial == $s)] | length' <<< "$offer")" = 0 ] \
  || fail "the USB stick is offered as a target: $offer"
pass "the API offers the internal NVMe disk (serial $NVME_SERIAL), not the USB stick"

# The stick trusts the workshop's key (over SSH, as headless provisioning opened it); the
# install then offers test-site from the pack on the second stick.
wait_ssh 120
vm_scp "$VM_DIR/atelier.key.pub" /tmp/atelier.pub
vm_ssh panier pack key add atelier /tmp/atelier.pub > /dev/null || fail "the stick does not take the workshop's key"
offer=$(api GET /api/v1/install)
[ "$(jq -r '[.preinstallable[] | select(.id == "test-site")] | length' <<< "$offer")" = 1 ] \
  || fail "the pack's test-site is not offered for pre-install: $(jq -c .preinstallable <<< "$offer")"
pass "the pack on the second stick is found and its test-site offered for pre-install"

# --- 2. The install ----------------------------------------------------------------------------
wrong=$(curl -sS --insecure --max-time 60 -X POST -H "X-Setup-Code: $code" -H 'Content-Type: application/json' \
  -d "{\"target\": \"/dev/nvme0n1\", \"confirm\": \"NOT-THE-SERIAL\", \"box_name\": \"$BOX\"}" "https://127.0.0.1:$VM_HTTPS/api/v1/install")
[ "$(jq -r .error <<< "$wrong")" = install_confirm_wrong ] || fail "a wrong serial was not refused: $wrong"
pass "a wrong serial is refused before anything is erased"

install_start=$(date +%s)
started=$(api POST /api/v1/install "{\"target\": \"/dev/nvme0n1\", \"confirm\": \"$NVME_SERIAL\", \"box_name\": \"$BOX\", \"language\": \"fr\", \"services\": [\"test-site\"]}") \
  || fail "starting the install failed"
job=$(jq -r .job <<< "$started")
again=$(curl -sS --insecure --max-time 60 -X POST -H "X-Setup-Code: $code" -H 'Content-Type: application/json' \
  -d "{\"target\": \"/dev/nvme0n1\", \"confirm\": \"$NVME_SERIAL\", \"box_name\": \"$BOX\"}" "https://127.0.0.1:$VM_HTTPS/api/v1/install")
[ "$(jq -r .error <<< "$again")" = install_running ] || fail "a second install while one runs was not refused: $again"
pass "install job #$job started; a second one is refused while it runs"

while :; do
  view=$(api GET /api/v1/install) || fail "following the install failed"
  [ "$(jq -r .job.state <<< "$view")" = running ] || break
  [ $(( $(date +%s) - install_start )) -lt 900 ] || fail "the install did not end within 900 s: $(jq -c .job <<< "$view")"
  sleep 3
done
install_secs=$(( $(date +%s) - install_start ))
jq -r '.lines[]' <<< "$view" > "$VM_DIR/install-lines.txt"
[ "$(jq -r .job.state <<< "$view")" = succeeded ] || fail "the install did not succeed: $(jq -c .job <<< "$view"); lines: $(tail -n 5 "$VM_DIR/install-lines.txt")"
new_code=$(jq -r .outcome.setup_code <<< "$view")
[ "$(jq -r .outcome.box_name <<< "$view")" = "$BOX" ] || fail "the outcome names another box: $(jq -c .outcome <<< "$view")"
if [ -z "$new_code" ] || [ "$new_code" = "$code" ]; then fail "the new box has no setup code of its own: $(jq -c .outcome <<< "$view")"; fi
figure "install (verdict, wipe, copy, read-back, provisioning, sheet): $install_secs s (job: $(jq -r '.outcome.seconds | floor' <<< "$view") s)"
figure "copy and read-back: $(jq -r '.outcome | def d: . * 10 | floor / 10; "\(.copied_bytes / 1e6 | floor) MB written in \(.copy_seconds | d) s (\(.copied_bytes / 1e6 / .copy_seconds | d) MB/s, the stick read through QEMU'"'"'s usb-storage), read back in \(.verify_seconds | d) s (\(.copied_bytes / 1e6 / .verify_seconds | d) MB/s)"' <<< "$view")"
pass "install job succeeded: new box $BOX, its own setup code"

sheet=$(api GET /api/v1/install/sheet) || fail "the sheet cannot be read"
for want in "$BOX" "$new_code" "$NVME_SERIAL" "Effacement vérifié" "Fiche de reconditionnement" "Services pré-installés" "test-site"; do
  grep -qF "$want" <<< "$sheet" || fail "the sheet does not show '$want'"
done
pass "refurbishment sheet: box name, setup code, the NVMe disk's wipe certificate (verified)"

wait_ssh 120
cert=$(vm_ssh "cat \$(ls -t /var/lib/panier/hw/wipe-$NVME_SERIAL-*.json | head -n 1)") || fail "no wipe certificate in /var/lib/panier/hw"
case $(jq -r .method <<< "$cert") in nvme_*) ;; *) fail "the NVMe disk was not wiped by its controller: $cert" ;; esac
[ "$(jq -r '.passed and .verification.passed' <<< "$cert")" = true ] || fail "the wipe certificate is not verified: $cert"
vm_ssh "grep -q '\"$BOX\"' /var/lib/panier/hw/inventory.csv" || fail "no inventory line for $BOX"
figure "wipe: $(jq -r '.method' <<< "$cert"), sample verification $(jq -r '.verification.bytes_checked / 1e6 | floor' <<< "$cert") MB in $(jq -r '.verification.seconds * 10 | floor / 10' <<< "$cert") s"
pass "wipe certificate (NVMe controller, verified) and inventory line in /var/lib/panier/hw on the stick"

api POST /api/v1/install/restart > /dev/null || fail "Restart now was refused"
wait_exit 180
pass "Restart now: the box restarts (QEMU exits on the reboot; the stick is removed here)"

# The internal disk, seen from the host: a Panier table with identifiers of its own.
table=$(sfdisk --json "$internal")
[ "$(jq -r '[.partitiontable.partitions[].name] | join(" ")' <<< "$table")" = "bios-boot panier-efi panier-system-a panier-system-b panier-data" ] \
  || fail "the internal disk's partitions are not Panier's: $table"
[ "$(jq -r .partitiontable.id <<< "$table")" != "$stick_uuid" ] || fail "the internal disk kept the stick's disk UUID"
efi_offset=$(jq -r '.partitiontable.partitions[1].start * 512' <<< "$table")
[ "$(mtype -i "$internal@@$efi_offset" ::/panier/box_name)" = "$BOX" ] || fail "the EFI partition does not name the box $BOX"
if mtype -i "$internal@@$efi_offset" ::/panier/authorized_keys > /dev/null 2>&1; then fail "the stick's SSH key reached the box"; fi
efi_grubenv "$internal" | tr '\n' ' ' | grep -q 'ORDER=A B A_OK=1 A_TRY=0 B_OK=0 B_TRY=0' || fail "grubenv is not reset to slot A: $(efi_grubenv "$internal")"
pass "internal disk: Panier's partitions with a new disk UUID, the box's provisioning, grubenv on slot A"

# --- 3. The installed box, from its internal disk alone, under legacy BIOS ---------------------
vm_boot seabios -drive "if=none,id=internal,file=$internal,format=raw,cache=unsafe" -device "nvme,serial=$NVME_SERIAL,drive=internal,bootindex=1"
t=$(wait_serial 'panier-ready: http' 900)
figure "power-on → panier ready, the installed box (SeaBIOS, first boot: data grown and formatted): $t s"
grep -aq "Panier: booting system A from hd0,gpt3" "$VM_DIR/serial.log" || fail "GRUB did not boot slot A of the internal disk"
wait_serial "Panier « $BOX »" 60 > /dev/null
[ "$(https /api/v1/health | jq -r '.install_mode, .setup_done' | tr '\n' ' ')" = "false false " ] || fail "the installed box's health: $(https /api/v1/health)"
pass "the installed box boots from its internal disk (SeaBIOS), slot A, named $BOX, not in install mode"

site_start=$(date +%s)
until page=$(http /index.html -H "Host: test-site-$BOX.local" 2>/dev/null) && [ "$page" = hello ]; do
  [ $(( $(date +%s) - site_start )) -lt 300 ] || fail "the pre-installed test-site does not answer through the proxy: ${page:-no answer}"
  sleep 3
done
figure "first boot → pre-installed test-site answering through the proxy: $(( $(date +%s) - site_start )) s after panier ready"
pass "the pre-installed test-site answers through the proxy after the first boot, before setup, with no registry"

body=$(jq -n --arg code "$new_code" --arg box "$BOX" '{code: $code, box_name: $box, language: "fr", username: "camille", password: "un mot de passe solide"}')
https /api/v1/setup -X POST -H 'Content-Type: application/json' -d "$body" > /dev/null || fail "setup with the sheet's setup code $new_code failed"
csrf=$(https /api/v1/login -X POST -H 'Content-Type: application/json' -d '{"username": "camille", "password": "un mot de passe solide"}' | jq -r .csrf_token)
status=$(https /api/v1/status)
[ "$(jq -r .box_name <<< "$status")" = "$BOX" ] || fail "the box's name after setup: $(jq -c .box_name <<< "$status")"
[ "$(jq -r '.readings.disk_total_bytes > 30000000000' <<< "$status")" = true ] || fail "the data partition was not grown: $(jq -c .readings <<< "$status")"
hardware=$(https /api/v1/hardware -H "X-CSRF-Token: $csrf")
[ "$(jq -r '[.probe.disks[] | select(.system)] | map(.name) | join(" ")' <<< "$hardware")" = nvme0n1 ] || fail "the system does not run from nvme0n1: $(jq -c '[.probe.disks[] | {name, system}]' <<< "$hardware")"
pass "setup with the setup code from the sheet; root on nvme0n1, data partition grown to $(jq -r '.readings.disk_total_bytes / 1e9 | floor' <<< "$status") GB"

if SSH_TRIES=1 vm_ssh true 2> /dev/null; then fail "the stick's SSH key opens the installed box"; fi
pass "the stick's SSH key does not open the installed box"

vm_monitor system_powerdown > /dev/null
wait_exit 120

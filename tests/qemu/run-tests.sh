#!/usr/bin/env bash
# QEMU system tests of the Panier image (TCG; KVM is unreliable on the build machines).
#
# Builds the test image (build-test-image.sh: Debian root filesystem cached, the release
# image's board files and overlay, the freshly built agent), then, on one disk:
#   1. SeaBIOS, first boot: headless provisioning from a USB stick labelled PANIER (box name,
#      setup code, static network, SSH key; it wins over the EFI partition's folder),
#      data partition grown and formatted, panier ready on the serial console and over HTTP
#      through QEMU's port forwarding, setup with the setup code shown on the console, Docker
#      on the data partition, firewall, a test service installed from a busybox image imported
#      into the box and reached through the proxy by its name (test-site-<box>.local) on a /24
#      network of Docker's address pools, slot A marked good;
#   2. OVMF, second boot: state kept, the test service back; OS updates through the API the
#      Update page uses, from a local HTTPS mirror on the host (channel.sh) serving an index
#      signed with the image's development release key: a tampered index, one signed by
#      another key and a bundle whose checksum is not the signed one are each refused, saying
#      why; the next version's bundle is found, downloaded, checked, installed into slot B;
#      restart into B, panier ready, state and service kept, B marked good, the update said
#      to have succeeded (figures: download and install time, the agent's memory);
#   3. a newer release whose agent cannot start, through the channel, installs into A; A fails
#      three boots in a row and GRUB falls back to B, with the state and the service kept, and
#      the API says the update was rolled back, why, and what the failed boots logged;
#   4. `panier hw wipe` of an emulated NVMe disk (attached from part 2 on, filled with a
#      donor's data): the controller's format or sanitize, a full read-back, the certificate,
#      and the data gone from the disk's backing file on the host.
# Prints figures (compressed image size against its budget, power-on → panier ready) and a
# closing "N passed, N failed" line.
#
# Environment: PANIER_TEST_IMAGE_DIR, an image already built by build-test-image.sh (skips the
# build); PANIER_BIN (see build-test-image.sh); PANIER_KEEP_VM_DIR=1 keeps the VM directory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/qemu/lib.sh
. "$here/lib.sh"

suite_begin "qemu system tests" qemu
# shellcheck source=tests/qemu/channel.sh
. "$here/channel.sh"

use_test_image

# --- Budgets ---------------------------------------------------------------------------------
# The test image's squashfs is gzip (the release image's is xz): this figure is an upper bound.
xz_bytes=$(cat "$image_dir/panier.img.xz.bytes")
figure "compressed disk image (test image, gzip squashfs, through xz -0): $(( xz_bytes / 1000000 )) MB (budget 400 MB)"
figure "RAUC bundle: $(( $(stat -c %s "$image_dir/panier-next.raucb") / 1000000 )) MB"
next_version=$(cat "$image_dir/next.version")
broken_version=$(cat "$image_dir/broken.version")
[ "$xz_bytes" -le 400000000 ] || fail "the compressed image exceeds its 400 MB budget"
pass "compressed image within budget"

# The update channel's mirror on the host (tests/qemu/channel.sh), for parts 2 and 3.
channel_start

# --- The disk, provisioned headless like a workshop would ------------------------------------
disk="$VM_DIR/disk.img"
cp --sparse=always "$image_dir/panier.img" "$disk"
truncate -s 8G "$disk"
# The workshop's provisioning stick (a FAT file system labelled PANIER, plugged in at the first
# boot only): box name, setup code, static network, SSH key. The EFI partition's panier/ folder
# names another box: the stick wins. (tests/qemu/install-tests.sh covers the EFI folder alone.)
VM_KEY="$VM_DIR/id_ed25519"
ssh-keygen -q -t ed25519 -N '' -C panier-qemu-test -f "$VM_KEY"
STICK_CODE=WXYZ2-3456K
mkdir "$VM_DIR/provision"
cp "$VM_KEY.pub" "$VM_DIR/provision/authorized_keys"
echo biblio-test > "$VM_DIR/provision/box_name"
echo "$STICK_CODE" > "$VM_DIR/provision/setup_code"
# QEMU's user network, as static settings (the address its DHCP would give, for the forwarding).
printf 'ADDRESS=10.0.2.15/24\nGATEWAY=10.0.2.2\nDNS=10.0.2.3\n' > "$VM_DIR/provision/network.conf"
provision_stick "$VM_DIR/provision-stick.img" "$VM_DIR/provision"
echo from-the-efi-partition > "$VM_DIR/box_name"
efi_put "$disk" "$VM_DIR/box_name" /panier/box_name

health_field() { https /api/v1/health | jq -r ".$1"; }

# The test service: its image, and the name the proxy answers it by (<id>-<box>.local).
SITE_IMAGE=panier-test/busybox:1
SITE_HOST=test-site-biblio-test.local
# The emulated NVMe disk's serial: the confirmation `panier hw wipe` asks for.
NVME_SERIAL=PANIERNVME01
# wait_site TIMEOUT: waits until test-site answers through the proxy by its name, on the HTTP
# entry and on the HTTPS one (SNI and Host as a browser sends them); prints its page.
wait_site() {
  local start page https_page
  start=$(date +%s)
  until page=$(http /index.html -H "Host: $SITE_HOST" 2>/dev/null) && [ -n "$page" ] \
      && https_page=$(curl -fsS --insecure --max-time 30 --resolve "$SITE_HOST:$VM_HTTPS:127.0.0.1" "https://$SITE_HOST:$VM_HTTPS/index.html" 2>/dev/null) \
      && [ "$https_page" = "$page" ]; do
    [ $(( $(date +%s) - start )) -lt "$1" ] || { echo "${page:-no answer}"; return; }
    sleep 3
  done
  echo "$page"
}

# Waits for the booted slot's panier-mark-good to finish; prints RAUC's verdict on the slot.
wait_marked_good() {
  local start
  start=$(date +%s)
  until [ "$(vm_ssh systemctl show -P ActiveState panier-mark-good.service)" = active ]; do
    [ $(( $(date +%s) - start )) -lt 300 ] || fail "panier-mark-good did not finish in 300 s"
    sleep 3
  done
  vm_ssh rauc status --output-format=json \
    | jq -r '.booted as $b | .slots[] | to_entries[] | select(.value.bootname == $b) | .value.boot_status'
}

# --- 1. SeaBIOS, first boot ------------------------------------------------------------------
vm_start "$disk" seabios -device qemu-xhci \
  -drive "if=none,id=provision,file=$VM_DIR/provision-stick.img,format=raw" -device usb-storage,drive=provision
t=$(wait_serial 'panier-ready: http' 900)
figure "power-on → panier ready, SeaBIOS, first boot (format and grow data): $t s"
pass "SeaBIOS boot: panier ready on the serial console"

[ "$(health_field status)" = ok ] || fail "health over port forwarding (HTTPS) is not ok: $(https /api/v1/health)"
[ "$(health_field setup_done)" = false ] || fail "a fresh box says setup is done"
pass "health answers over HTTPS through QEMU's port forwarding"

http / > /dev/null || fail "the portal does not answer on HTTP port 80"
# /admin over plain HTTP neither redirects nor links (a spoofed LAN could strip HTTPS): it
# says which https:// address to type.
admin_page=$(curl -sS -w '\n%{http_code} %{redirect_url}' --max-time 20 "http://127.0.0.1:$VM_HTTP/admin")
case ${admin_page##*$'\n'} in "200 ") ;; *) fail "/admin on HTTP does not answer its own page: ${admin_page##*$'\n'}" ;; esac
grep -q "https://" <<< "$admin_page" || fail "/admin on HTTP does not say which https:// address to type"
pass "HTTP entry on port 80: portal, /admin saying which https:// address to type"

# The setup code as a mediator reads it: on the screen (the banner, also on the console).
wait_serial 'Setup code : [A-Z0-9-]{8,}' 120 > /dev/null
code=$(grep -aoE 'Setup code : [A-Z0-9-]{8,}' "$VM_DIR/serial.log" | tail -n 1 | sed 's/.*: //')
[ "$code" = "$STICK_CODE" ] || fail "the console shows the setup code $code, not the provisioning stick's $STICK_CODE"
body=$(jq -n --arg code "$code" '{code: $code, box_name: "biblio-test", language: "fr", username: "camille", password: "un mot de passe solide"}')
https /api/v1/setup -X POST -H 'Content-Type: application/json' -d "$body" > /dev/null || fail "setup with the setup code $code failed"
[ "$(health_field setup_done)" = true ] || fail "setup done but health says otherwise"
pass "setup over HTTPS with the setup code shown on the console"

# Provisioning brought an SSH key: the agent's firewall opens SSH to the LAN from its first
# start (once; an admin may close it later), with no admin action.
wait_ssh 120
pass "SSH open from the first start, by the key headless provisioning brought"
csrf=$(https /api/v1/login -X POST -H 'Content-Type: application/json' \
  -d '{"username": "camille", "password": "un mot de passe solide"}' | jq -r .csrf_token)
if [ -z "$csrf" ] || [ "$csrf" = null ]; then fail "login after setup failed"; fi
[ "$(https /api/v1/firewall | jq -r .policy.ssh_enabled)" = true ] || fail "the firewall policy does not say SSH is open: $(https /api/v1/firewall)"
pass "login over HTTPS; the firewall policy says SSH is open to the LAN"

vm_ssh "grep -qx 'box_name = \"biblio-test\"' /etc/panier/panier.toml" || fail "the stick's box name is not in panier.toml (the stick wins over the EFI folder)"
vm_ssh test -f /run/systemd/network/10-panier-static.network || fail "the stick's static network settings are not applied"
vm_ssh "ip -4 -o addr show scope global | grep -q '10.0.2.15/24 .*valid_lft forever'" \
  || fail "the address is not the static one: $(vm_ssh ip -4 -o addr show scope global)"
pass "headless provisioning from a USB stick labelled PANIER (over the EFI folder): box name, setup code, static address, SSH key"

vm_ssh nft list table inet panier > /dev/null || fail "the agent's table inet panier is missing"
if vm_ssh nft list table inet panier_boot > /dev/null 2>&1; then
  fail "the agent's table is up but the boot table inet panier_boot is still there"
fi
pass "firewall: the agent's table inet panier replaced the boot table"

data_bytes=$(vm_ssh blockdev --getsize64 /run/panier/disk/data)
[ "$data_bytes" -gt 5000000000 ] || fail "data partition not grown: $data_bytes bytes"
[ "$(vm_ssh findmnt -no FSTYPE /data)" = ext4 ] || fail "/data is not the ext4 data partition"
[ "$(vm_ssh findmnt -no SOURCE /var | sed 's/.*\[//; s/\]//')" = /var ] || fail "/var is not bound from /data/var"
pass "data partition grown to the disk, formatted, mounted on /data, /var on it"

failed_units=$(vm_ssh systemctl list-units --failed --plain --no-legend | awk '{print $1}' | tr '\n' ' ')
[ -z "$failed_units" ] || fail "failed units on the box: $failed_units"
pass "no failed systemd unit"

[ "$(vm_ssh "docker info --format '{{.DockerRootDir}} {{.LoggingDriver}}'")" = "/data/docker journald" ] \
  || fail "Docker Engine does not keep its data on /data or does not log to the journal"
pass "Docker Engine: data on the data partition, logs to the journal"

# A service installed as a mediator would, from an image imported into the box (no registry
# here): the test image's catalog has test-site (tests/catalog/site, busybox httpd).
busybox_tar "$VM_DIR/busybox.tar"
vm_scp "$VM_DIR/busybox.tar" /data/busybox.tar
rm "$VM_DIR/busybox.tar"
vm_ssh "docker import --change 'CMD [\"sh\"]' /data/busybox.tar $SITE_IMAGE && rm /data/busybox.tar" > /dev/null \
  || fail "docker import of the busybox image into the box failed"
install_log=$(vm_ssh panier app install test-site --follow 2>&1) || fail "installing test-site failed: $install_log"
[ "$(wait_site 120)" = hello ] || fail "test-site does not answer through the proxy at $SITE_HOST"
pass "test service installed from an imported image, reachable through the proxy at $SITE_HOST (HTTP and HTTPS)"

# Docker's address pools (daemon.json): /24 networks in 172.30.0.0/16, so that many services fit.
subnet=$(vm_ssh docker network inspect -f "'{{range .IPAM.Config}}{{.Subnet}}{{end}}'" panier-test-site)
case $subnet in 172.30.*.0/24) ;; *) fail "the service's network is $subnet, not a /24 of 172.30.0.0/16" ;; esac
pass "service network from Docker's default-address-pools: $subnet"

# Backups run restic, which the image must carry (the release image restic's own binary, the
# test image Debian's): the box backs itself up to a folder on its data partition, and plain
# restic reads the repository with the emergency kit's password.
vm_ssh command -v restic > /dev/null || fail "no restic in the image: backups cannot run"
kit=$(vm_ssh panier backup target add box-folder --folder /data/backup-test --json 2>&1) \
  || fail "adding a folder backup target failed: $kit"
vm_ssh panier backup kit box-folder --confirm > /dev/null || fail "confirming the emergency kit failed"
# The box's clock is past the nightly hour, so the scheduler may start today's backup on its
# next tick, and "back up now" is then refused as busy: wait for that one, and ask again.
for try in 1 2 3; do
  backup_log=$(vm_ssh panier backup run --target box-folder 2>&1) && break
  case $backup_log in *backup_busy*) ;; *) fail "panier backup run failed in the box: $backup_log" ;; esac
  [ "$try" -lt 3 ] || fail "panier backup run: still busy after two waits: $backup_log"
  for _ in $(seq 1 90); do
    [ "$(vm_ssh panier backup status --json | jq -r .running)" = false ] && break
    sleep 2
  done
done
snapshots=$(vm_ssh panier backup list box-folder --json) || fail "panier backup list failed"
jq -e '[.[] | .tags[]? | select(. == "part=state")] | length > 0' <<< "$snapshots" > /dev/null \
  || fail "no snapshot of the box's state after the backup: $snapshots"
repo=$(jq -r .restic_repository <<< "$kit")
restic_count=$(jq -r .password <<< "$kit" | vm_ssh "RESTIC_PASSWORD=\$(cat) restic -r $repo snapshots --json --no-lock" | jq length) \
  || fail "plain restic cannot read the box's repository with the kit's password"
[ "$restic_count" = "$(jq length <<< "$snapshots")" ] || fail "restic lists $restic_count snapshots, the agent $(jq length <<< "$snapshots")"
[ "$(wait_site 120)" = hello ] || fail "test-site is not back after the backup"
pass "backup of the box with the image's restic to a folder target: $restic_count snapshots, read by plain restic with the kit's password, test-site back"

[ "$(wait_marked_good)" = good ] || fail "slot A not marked good"
pass "slot A marked good once panier is healthy"
stop_start=$(date +%s)
vm_stop
figure "power-off with a service running: $(( $(date +%s) - stop_start )) s"

# --- 2. OVMF, state kept, update to slot B ---------------------------------------------------
# From here on the VM also has an emulated NVMe disk holding a donor's data (part 4).
nvme="$VM_DIR/nvme.img"
head -c 64M < <(yes PANIER-DONOR-DATA) > "$nvme"
vm_start "$disk" ovmf -drive "file=$nvme,format=raw,if=none,id=nv" -device "nvme,serial=$NVME_SERIAL,drive=nv"
t=$(wait_serial 'panier-ready: http' 600)
figure "power-on → panier ready, OVMF, second boot: $t s"
[ "$(health_field setup_done)" = true ] || fail "state lost across reboot: setup no longer done"
pass "OVMF boot: panier ready, state kept across the reboot"
# The power-off stopped the service's container (Docker Engine, no live-restore) and left
# the data partition clean: e2fsck at boot found nothing to recover. (systemd may still log
# "Failed unmounting var.mount" while journald writes there; its final stage remounts it
# read-only.)
if [ "$(serial_count 'panier-data: recovering journal')" -ne 0 ] || [ "$(serial_count 'panier-data: clean')" -eq 0 ]; then
  fail "the data partition was not clean after the power-off: $(grep -a 'panier-data:' "$VM_DIR/serial.log")"
fi
pass "power-off with a service running left the data partition clean"
wait_ssh 120
vm_ssh nft list table inet panier > /dev/null || fail "no table inet panier after the reboot"
vm_ssh nft list table inet panier_boot > /dev/null 2>&1 && fail "the boot table is back after the reboot"
pass "firewall after the reboot: inet panier, SSH still open (policy kept)"
[ "$(wait_site 300)" = hello ] || fail "test-site is not back through the proxy after the reboot"
pass "test-site back after the reboot, through the proxy by its name"

# The update channel, through the API the Update page uses: the admin sets the channel's
# address (the local mirror), "check now" refuses a tampered index, one signed by another key,
# and a bundle whose checksum is not the signed one, each saying why; then the real release
# is found, downloaded, checked, installed into B, and the box restarts into it.
wait_ssh 120
vm_scp "$CHANNEL_DIR/ca.pem" /data/etc/panier/update-ca.pem
csrf=$(https /api/v1/login -X POST -H 'Content-Type: application/json' \
  -d '{"username": "camille", "password": "un mot de passe solide"}' | jq -r .csrf_token)
running=$(update_field .running)
[ "$running" = "$(vm_ssh cat /usr/share/panier/os-version)" ] || fail "the Update page's running version is $running"
settings=$(api PUT /update/settings "$(jq -n --arg c "$(channel_url)" '{channel: $c, restart_hour: null}')")
[ "$(jq -r .channel <<< "$settings")" = "$(channel_url)" ] || fail "the channel address was not set: $settings"
pass "the Update page's API: running $running, channel set to the local mirror $(channel_url)"

channel_publish "$image_dir/panier-next.raucb" "$next_version"
sed -i 's/Correctifs/Correctifs et portes dérobées/' "$CHANNEL_DIR/www/index.json"
check_refused signature_mismatch "changed after signing"
channel_publish "$image_dir/panier-next.raucb" "$next_version" "" "$CHANNEL_DIR/other.key"
check_refused signature_wrong_key "another key"
[ "$(update_field .offer.kind)" != available ] || fail "a refused index offers an update: $(https /api/v1/update | jq -c .offer)"
pass "a tampered index and one signed by another key are refused, saying why"

# A bundle that is not the one the index signed for (same size, another checksum).
head -c "$(stat -c %s "$image_dir/panier-next.raucb")" /dev/zero > "$CHANNEL_DIR/panier-damaged.raucb"
channel_publish "$CHANNEL_DIR/panier-damaged.raucb" "$next_version" "$(sha256sum "$image_dir/panier-next.raucb" | cut -d' ' -f1)"
api POST /update/check '{}' > /dev/null
[ "$(update_field .offer.release.version)" = "$next_version" ] || fail "the signed index is not offered: $(https /api/v1/update | jq -c .offer)"
api POST /update/install '{"restart": "at", "hour": 3}' > /dev/null
[ "$(wait_attempt 'failed|installed' 900)" = failed ] || fail "a bundle with another checksum was installed"
[ "$(update_field .attempt.error.key)" = update_checksum_mismatch ] || fail "the damaged bundle was refused for another reason: $(https /api/v1/update | jq -c .attempt.error)"
log "refused as expected: $(update_field .attempt.error.en)"
vm_ssh grub-editenv /boot/efi/EFI/BOOT/grubenv list | grep -qx 'ORDER=A B' || fail "a refused bundle changed the boot order"
rm "$CHANNEL_DIR/www/panier-damaged.raucb"
pass "a bundle whose SHA-256 is not the signed index's is refused after the download, saying why, nothing installed"

channel_publish "$image_dir/panier-next.raucb" "$next_version"
api POST /update/check '{}' > /dev/null
[ "$(update_field .offer.kind)/$(update_field .offer.release.version)" = "available/$next_version" ] \
  || fail "the release is not offered: $(https /api/v1/update | jq -c .offer)"
# Restart at a night hour, so that the agent's memory can be read before the restart; the
# peak resident size is reset first (clear_refs), so VmHWM is the installation's.
agent_pid=$(vm_ssh systemctl show -P MainPID panier.service)
rss_before=$(vm_ssh "awk '/^VmRSS/ {print \$2}' /proc/$agent_pid/status")
vm_ssh "echo 5 > /proc/$agent_pid/clear_refs"
update_start=$(date +%s)
started=$(api POST /update/install "$(jq -n --arg v "$next_version" '{version: $v, restart: "at", hour: 3}')")
[ "$(jq -r .job <<< "$started")" != null ] || fail "the installation did not start: $started"
while [ "$(update_field .attempt.state)" = downloading ]; do
  [ $(( $(date +%s) - update_start )) -lt 1200 ] || fail "the download did not end in 1200 s: $(https /api/v1/update | jq -c .attempt)"
  sleep 2
done
installing_at=$(date +%s)
[ "$(wait_attempt 'installed|failed' 1200)" = installed ] || fail "the installation failed: $(https /api/v1/update | jq -c .attempt)"
installed_at=$(date +%s)
peak=$(vm_ssh "awk '/^VmHWM/ {print \$2}' /proc/$agent_pid/status")
figure "update through the channel: download and check of $(( $(stat -c %s "$image_dir/panier-next.raucb") / 1000000 )) MB $(( installing_at - update_start )) s, RAUC install into B $(( installed_at - installing_at )) s"
figure "agent memory while installing an update: $(( rss_before / 1024 )) MB resident before, peak $(( peak / 1024 )) MB (VmHWM)"
vm_ssh grub-editenv /boot/efi/EFI/BOOT/grubenv list | grep -qx 'ORDER=B A' || fail "RAUC did not make slot B primary"
[ "$(update_field .attempt.target_slot)" = B ] || fail "the attempt does not target slot B: $(https /api/v1/update | jq -c .attempt)"
api POST /update/restart '{}' > /dev/null
wait_serial 'panier-ready: http' 600 2 > /dev/null
wait_ssh 120
vm_ssh grep -qw rauc.slot=B /proc/cmdline || fail "the update did not boot slot B"
[ "$(health_field setup_done)" = true ] || fail "state lost across the update"
[ "$(wait_marked_good)" = good ] || fail "slot B not marked good"
[ "$(wait_attempt 'succeeded|rolled_back' 300)" = succeeded ] || fail "the update is not said to have succeeded: $(https /api/v1/update | jq -c .attempt)"
[ "$(update_field .running)" = "$next_version" ] || fail "the box does not run $next_version: $(update_field .running)"
[ "$(wait_site 300)" = hello ] || fail "test-site is not back after the update"
pass "the channel's release found, downloaded, checked, installed into B through the API; the box restarted into $next_version, marked good, the update said to have succeeded, state and test-site kept"
figure "OS update through the channel: check, download, install into B, restart, B marked good: $(( $(date +%s) - update_start )) s"

# --- 3. A slot that fails three boots falls back -----------------------------------------------
# A newer release whose agent cannot start, through the channel, restarting at once.
channel_publish "$image_dir/panier-broken.raucb" "$broken_version"
api POST /update/check '{}' > /dev/null
[ "$(update_field .offer.release.version)" = "$broken_version" ] || fail "the broken release is not offered: $(https /api/v1/update | jq -c .offer)"
tries_before=$(serial_count 'Panier: booting system A')
api POST /update/install "$(jq -n --arg v "$broken_version" '{version: $v, restart: "now"}')" > /dev/null
fallback_start=$(date +%s)
wait_serial 'panier-ready: http' 2400 3 > /dev/null
wait_ssh 120
tries=$(( $(serial_count 'Panier: booting system A') - tries_before ))
[ "$tries" -eq 3 ] || fail "slot A was tried $tries times, not 3"
vm_ssh grep -qw rauc.slot=B /proc/cmdline || fail "GRUB did not fall back to slot B"
vm_ssh grub-editenv /boot/efi/EFI/BOOT/grubenv list | grep -qx 'A_TRY=3' || fail "A_TRY is not 3"
[ "$(health_field setup_done)" = true ] || fail "state lost across the fallback"
[ "$(wait_site 300)" = hello ] || fail "test-site is not back after the fallback"
pass "a slot whose agent fails three boots falls back to the other, state and test-site kept"
# The Update page's API says the update was rolled back, and why (what the failed boots logged).
csrf=$(https /api/v1/login -X POST -H 'Content-Type: application/json' \
  -d '{"username": "camille", "password": "un mot de passe solide"}' | jq -r .csrf_token)
[ "$(wait_attempt 'rolled_back|succeeded' 300)" = rolled_back ] || fail "the update is not said to be rolled back: $(https /api/v1/update | jq -c .attempt)"
[ "$(update_field .attempt.error.key)" = update_rolled_back ] || fail "the rollback is not said so: $(https /api/v1/update | jq -c .attempt.error)"
said=$(update_field .attempt.error.en)
grep -qF "panier.service failed" <<< "$said" || fail "the rollback does not say why: $said"
update_field .attempt.boot_log | grep -qF "deliberately broken build" || fail "the failed boots' log is not shown: $(update_field .attempt.boot_log)"
[ "$(update_field .running)" = "$next_version" ] || fail "the box does not run $next_version after the fallback"
log "the Update page says: $said"
pass "the API the Update page uses says the update to $broken_version was rolled back, why, and what the failed boots logged"
figure "fallback: three failed boots of A, then B ready and its service back: $(( $(date +%s) - fallback_start )) s"

# --- 4. Workshop wipe of an NVMe disk, on QEMU's emulated controller ---------------------------
vm_ssh grep -qw "$NVME_SERIAL" /sys/block/nvme0n1/device/serial || fail "no NVMe disk $NVME_SERIAL at /dev/nvme0n1"
# As in the release image, no nvme-cli: the agent sends the Format command itself.
if vm_ssh command -v nvme; then fail "the test image has nvme-cli, the release image has not"; fi
wipe_log=$(vm_ssh panier hw wipe /dev/nvme0n1 --lang en --yes-i-know "$NVME_SERIAL" --verify full --out /data/wipe 2>&1) \
  || fail "panier hw wipe of the NVMe disk failed: $wipe_log"
cert=$(vm_ssh "cat /data/wipe/*.json")
method=$(jq -r .method <<< "$cert")
# QEMU's controller formats with a user-data erase (no sanitize, no crypto erase).
[ "$method" = nvme_format_user_data ] || fail "the NVMe disk was not formatted by its controller (method $method): $cert"
[ "$(jq -r '.passed and .verification.passed and .verification.mode == "full"' <<< "$cert")" = true ] \
  || fail "the wipe certificate does not say verified by a full read: $cert"
vm_stop
# The controller's backing file, read on the host: the donor's data is gone.
if grep -q PANIER-DONOR-DATA "$nvme"; then fail "the donor's data is still in the NVMe disk's backing file"; fi
[ "$(jq -r .disk.serial <<< "$cert")" = "$NVME_SERIAL" ] || fail "the certificate names another disk: $cert"
figure "NVMe wipe (64 MiB, full verification): steps $(jq -c '[.steps[] | {method, error}]' <<< "$cert")"
pass "NVMe disk wiped by the controller ($method), certificate verified, data gone from the backing file"


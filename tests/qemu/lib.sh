# shellcheck shell=bash
# Helpers for the QEMU system tests (sourced by run-tests.sh and boot.sh; bash).
#
# One VM at a time: vm_start boots a disk image under SeaBIOS or OVMF with TCG, the serial
# console in $VM_DIR/serial.log, the QEMU monitor on $VM_DIR/monitor.sock (vm_monitor), the
# guest's ports 80, 443 and 22 forwarded to free local ports (VM_HTTP, VM_HTTPS, VM_SSH). The tests talk to the box over HTTP and HTTPS as a browser
# would, and over SSH with the key that headless provisioning installed (VM_KEY) once an admin
# opened SSH in the agent's firewall.

VM_DIR=${VM_DIR:-}
VM_HTTP=""
VM_HTTPS=""
VM_SSH=""
VM_KEY=""
VM_STARTED_AT=0

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

# suite_begin NAME PREFIX: starts a suite: check counters, figures, a VM directory
# (/var/tmp/panier-PREFIX.*, kept when the suite fails or PANIER_KEEP_VM_DIR=1) and the report
# at exit (figures, firmware stalls, the serial console's end on a failure, and a closing
# "NAME: N passed, N failed" line).
suite_begin() {
  SUITE_NAME=$1
  SUITE_START=$(date +%s)
  passed=0 failed=0
  figures=()
  VM_DIR=$(mktemp -d "/var/tmp/panier-$2.XXXXXX")
  trap suite_end EXIT
  # A command that fails outside a check ends the suite (set -e): say which one, also inside
  # a function (-E). Only in the suite's own shell: subshells ($(...), <(...)) do not end it,
  # and `yes` ended by SIGPIPE there is no failure.
  set -E
  suite_rc=0
  trap 'suite_rc=$?; [ "$BASHPID" != "$$" ] || log "FAIL: \`$BASH_COMMAND\` failed (exit $suite_rc) at line $LINENO"' ERR
}
pass() { passed=$((passed + 1)); log "ok: $*"; }
figure() { figures+=("$*"); log "figure: $*"; }

# use_test_image: sets image_dir to PANIER_TEST_IMAGE_DIR, or to the test image that
# build-test-image.sh keeps in its default directory (built, or rebuilt when an input changed).
use_test_image() {
  image_dir=${PANIER_TEST_IMAGE_DIR:-}
  if [ -z "$image_dir" ]; then
    image_dir=/var/cache/panier/image/test
    local start
    start=$(date +%s)
    "$(dirname "${BASH_SOURCE[0]}")/build-test-image.sh" "$image_dir"
    figure "test image build: $(( $(date +%s) - start )) s"
  fi
}

suite_end() {
  local rc=$?
  if vm_alive; then kill "$(vm_pid)" 2>/dev/null || true; fi
  # The suite's own servers (run-tests.sh's update channel).
  if declare -F channel_stop > /dev/null; then channel_stop; fi
  if [ "$rc" -ne 0 ]; then
    failed=$((failed + 1))
    log "last lines of the serial console:"
    tail -n 40 "$VM_DIR/serial.log" >&2 2>/dev/null || true
  fi
  if [ -s "$VM_DIR/stalls.log" ]; then
    log "firmware stalls before GRUB, each ended by a VM reset (as the box's hardware watchdog would):"
    cat "$VM_DIR/stalls.log" "$VM_DIR"/stall-*.txt >&2
  fi
  if [ "${PANIER_KEEP_VM_DIR:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
    log "VM directory kept: $VM_DIR"
  else
    rm -rf "$VM_DIR"
  fi
  figures+=("$SUITE_NAME: $(( $(date +%s) - SUITE_START )) s")
  log "figures:"
  printf '  %s\n' "${figures[@]}" >&2
  echo "$SUITE_NAME: $passed passed, $failed failed"
}

free_port() {
  local port
  while :; do
    port=$(( 20000 + RANDOM % 20000 ))
    ss -Hltn "sport = :$port" | grep -q . || { echo "$port"; return; }
  done
}

# What a guest reboot does (-no-reboot: QEMU exits): `restart` starts the same machine again,
# cold (vm_follow_reboot); `exit` leaves it off (install-tests.sh, where a restart is when the
# workshop pulls the stick out).
VM_ON_REBOOT=${VM_ON_REBOOT:-restart}
# The QEMU command line of the VM, kept for its restarts.
VM_ARGS=()

# vm_boot seabios|ovmf QEMU_ARGS...: boots a VM with the drives (and any other options) given.
# The serial console is appended to $VM_DIR/serial.log across restarts; QEMU's pid is in
# $VM_DIR/qemu.pid (a restart from a $(...) subshell is seen by the suite's shell too).
vm_boot() {
  local firmware=$1
  shift
  VM_HTTP=$(free_port)
  VM_HTTPS=$(free_port)
  VM_SSH=$(free_port)
  local fw=()
  if [ "$firmware" = ovmf ]; then
    [ -f "$VM_DIR/OVMF_VARS.fd" ] || cp /usr/share/OVMF/OVMF_VARS_4M.fd "$VM_DIR/OVMF_VARS.fd"
    fw=(-drive "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"
        -drive "if=pflash,format=raw,file=$VM_DIR/OVMF_VARS.fd")
  fi
  : > "$VM_DIR/serial.log"
  rm -f "$VM_DIR/reset.mark" "$VM_DIR/unstall.mark" "$VM_DIR/restarted.mark"
  VM_ARGS=(-machine q35 -accel tcg -cpu max -smp 2 -m 2048 -no-reboot "${fw[@]}" "$@"
    -nic "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:$VM_HTTP-:80,hostfwd=tcp:127.0.0.1:$VM_HTTPS-:443,hostfwd=tcp:127.0.0.1:$VM_SSH-:22"
    -display none -chardev "file,id=console,path=$VM_DIR/serial.log,append=on" -serial chardev:console
    -monitor "unix:$VM_DIR/monitor.sock,server=on,wait=off")
  VM_STARTED_AT=$(date +%s)
  vm_launch
  log "VM started ($firmware, pid $(vm_pid)): http://127.0.0.1:$VM_HTTP/, https://127.0.0.1:$VM_HTTPS/, ssh port $VM_SSH, serial $VM_DIR/serial.log"
}

vm_launch() {
  nice qemu-system-x86_64 "${VM_ARGS[@]}" &
  echo $! > "$VM_DIR/qemu.pid"
}

# vm_start DISK seabios|ovmf [extra qemu args...]: boots DISK as the VM's virtio disk, first
# in the firmware's boot order (a provisioning stick plugged in beside it is not bootable).
vm_start() {
  local disk=$1 firmware=$2
  shift 2
  vm_boot "$firmware" -drive "if=none,id=disk,file=$disk,format=raw,cache=unsafe" -device virtio-blk-pci,drive=disk,bootindex=1 "$@"
}

vm_pid() { cat "$VM_DIR/qemu.pid" 2>/dev/null || true; }
# Whether QEMU runs (no restart).
vm_alive() {
  local pid
  pid=$(vm_pid)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# vm_follow_reboot: when the guest rebooted (the kernel's last word was "reboot: Restarting
# system", or the suite reset a stalled firmware) and QEMU therefore exited, starts the same
# machine again, as its power comes back. Why cold starts: OVMF under TCG sometimes hung in
# its DXE phase after a warm reset of this machine (image/README.md, "Firmware stalls"),
# never after a cold start; the boot counting under test lives in grubenv, on the disk.
vm_follow_reboot() {
  [ "$VM_ON_REBOOT" = restart ] && [ -n "$(vm_pid)" ] || return 0
  vm_alive && return 0
  # The serial line of the last reboot, and of the last one followed.
  local line followed
  line=$(grep -an 'reboot: Restarting system' "$VM_DIR/serial.log" 2>/dev/null | tail -n 1 | cut -d: -f1 || true)
  followed=$(cat "$VM_DIR/restarted.mark" 2>/dev/null || true)
  if [ "${line:-0}" -gt "${followed:-0}" ] || [ "$VM_DIR/unstall.mark" -nt "$VM_DIR/restarted.mark" ]; then
    echo "${line:-0}" > "$VM_DIR/restarted.mark"
    vm_launch
  fi
}

# Whether the VM runs, following its reboots.
vm_running() {
  vm_follow_reboot
  vm_alive
}

# Stops the VM: a clean power-off through SSH when possible, else kills QEMU.
vm_stop() {
  if vm_running; then
    vm_ssh systemctl poweroff > /dev/null 2>&1 || true
    for _ in $(seq 1 90); do vm_alive || break; sleep 1; done
    if vm_alive; then kill "$(vm_pid)" 2>/dev/null || true; fi
  fi
  rm -f "$VM_DIR/qemu.pid"
}

# vm_monitor COMMAND: runs a QEMU monitor command (`info registers`, `info status`), prints
# its answer. A stalled VM is described this way before the tests give up on it.
vm_monitor() {
  # The monitor echoes the command with terminal escapes: those lines are left out.
  printf '%s\n' "$1" | timeout 10 nc -U -q 2 "$VM_DIR/monitor.sock" 2>/dev/null | tr -d '\r' | grep -av $'\033' || true
}

# Counts the serial console's lines matching an extended regex.
serial_count() { grep -aEc "$1" "$VM_DIR/serial.log" 2>/dev/null || true; }

# The firmware's share of a boot: from power-on or a reset to GRUB's "Panier: booting system"
# line. Under TCG OVMF and SeaBIOS take 5-20 s; FIRMWARE_LIMIT seconds without GRUB after a
# reset is a stall (see vm_unstall).
FIRMWARE_LIMIT=${PANIER_QEMU_FIRMWARE_LIMIT:-180}

# vm_unstall: called while waiting on the console. When the VM's last reset (the kernel's
# "reboot: Restarting system", or power-on) has not reached GRUB within FIRMWARE_LIMIT seconds,
# the firmware is stuck: QEMU's state is saved in $VM_DIR/stall-N.txt and the VM is reset,
# as the box's hardware watchdog (RebootWatchdogSec) would do on a real machine. GRUB has not
# run, so no boot try was counted. Each stall is listed in $VM_DIR/stalls.log (the suite
# reports them); a reset that stalls three times in a row fails the suite.
vm_unstall() {
  local restart boot since now n
  # (`|| true`: grep finding nothing fails the pipeline, which under `set -e -o pipefail`
  # would end the suite without a word.)
  restart=$(grep -an 'reboot: Restarting system' "$VM_DIR/serial.log" 2>/dev/null | tail -n 1 | cut -d: -f1 || true)
  boot=$(grep -an 'Panier: booting system' "$VM_DIR/serial.log" 2>/dev/null | tail -n 1 | cut -d: -f1 || true)
  restart=${restart:-0} boot=${boot:-0}
  if [ "$boot" -gt "$restart" ] || { [ "$restart" = 0 ] && [ "$boot" != 0 ]; }; then
    return 0
  fi
  # Since when this reset has been waiting for GRUB (power-on for the first boot).
  since=$VM_STARTED_AT
  if [ "$restart" != 0 ]; then
    if [ "$(cut -d' ' -f1 "$VM_DIR/reset.mark" 2>/dev/null)" != "$restart" ]; then
      echo "$restart $(date +%s)" > "$VM_DIR/reset.mark"
    fi
    since=$(cut -d' ' -f2 "$VM_DIR/reset.mark")
  fi
  [ -f "$VM_DIR/unstall.mark" ] && [ "$(cat "$VM_DIR/unstall.mark")" -gt "$since" ] && since=$(cat "$VM_DIR/unstall.mark")
  now=$(date +%s)
  [ $(( now - since )) -ge "$FIRMWARE_LIMIT" ] || return 0
  n=1
  [ -f "$VM_DIR/stalls.log" ] && n=$(( $(wc -l < "$VM_DIR/stalls.log") + 1 ))
  {
    echo "reset at serial line $restart: no GRUB after $(( now - since )) s"
    echo "firmware output since that reset:"
    tail -n +"$(( restart + 1 ))" "$VM_DIR/serial.log" | tr -d '\033' | tail -n 20
    vm_monitor 'info status'
    vm_monitor 'info cpus'
    vm_monitor 'info registers -a'
  } > "$VM_DIR/stall-$n.txt"
  echo "stall $n: reset at serial line $restart, $(( now - since )) s without GRUB ($VM_DIR/stall-$n.txt)" >> "$VM_DIR/stalls.log"
  log "NOTE: the firmware did not reach GRUB within ${FIRMWARE_LIMIT}s after a reset; QEMU state saved in $VM_DIR/stall-$n.txt; resetting the VM"
  [ "$(grep -c "serial line $restart," "$VM_DIR/stalls.log")" -lt 3 ] || fail "the firmware stalled three times in a row after the same reset"
  vm_monitor 'system_reset' > /dev/null
  vm_monitor 'cont' > /dev/null
  date +%s > "$VM_DIR/unstall.mark"
}

# wait_serial REGEX TIMEOUT [MIN_COUNT]: waits until the serial console has shown REGEX
# MIN_COUNT times (default 1). Prints the seconds since power-on. A firmware stall on the way
# is handled by vm_unstall.
wait_serial() {
  local regex=$1 timeout=$2 want=${3:-1} start
  start=$(date +%s)
  while [ "$(serial_count "$regex")" -lt "$want" ]; do
    vm_running || fail "QEMU exited while waiting for /$regex/ on the serial console"
    if [ $(( $(date +%s) - start )) -ge "$timeout" ]; then
      { vm_monitor 'info status'; vm_monitor 'info cpus'; vm_monitor 'info registers -a'; } > "$VM_DIR/stalled-vm.txt"
      fail "no /$regex/ (x$want) on the serial console within ${timeout}s (QEMU's state: $VM_DIR/stalled-vm.txt)"
    fi
    vm_unstall
    sleep 2
  done
  echo $(( $(date +%s) - VM_STARTED_AT ))
}

# SSH and scp to the box. Under TCG on a busy 2-core host the guest can take more than ten
# seconds to answer a handshake, so connections get 30 s and are retried: ssh exits 255 when
# the connection failed (a remote command's own status is passed through), scp is retried
# whole (copying again is harmless).
SSH_OPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes
  -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=8)

# SSH_TRIES=1 vm_ssh …: one attempt (to check that SSH is closed).
vm_ssh() {
  local try rc tries=${SSH_TRIES:-3}
  for try in $(seq 1 "$tries"); do
    rc=0
    ssh -q -i "$VM_KEY" -p "$VM_SSH" "${SSH_OPTS[@]}" root@127.0.0.1 "$@" || rc=$?
    if [ "$rc" -ne 255 ] || ! vm_running; then return "$rc"; fi
    [ "$try" = "$tries" ] || sleep 5
  done
  return 255
}

vm_scp() {
  local try
  for try in 1 2 3; do
    scp -q -i "$VM_KEY" -P "$VM_SSH" "${SSH_OPTS[@]}" "$1" "root@127.0.0.1:$2" && return 0
    vm_running || return 1
    log "scp of $1 failed (try $try)"
    [ "$try" = 3 ] || sleep 5
  done
  return 1
}

# wait_ssh TIMEOUT: waits until SSH answers.
wait_ssh() {
  local timeout=$1 start
  start=$(date +%s)
  until SSH_TRIES=1 vm_ssh true 2>/dev/null; do
    vm_running || fail "QEMU exited while waiting for SSH"
    [ $(( $(date +%s) - start )) -lt "$timeout" ] || fail "SSH did not answer within ${timeout}s"
    sleep 3
  done
}

# http PATH [curl args...]: the box's plain-HTTP entry (portal) through QEMU's port forwarding.
http() {
  local path=$1
  shift
  curl -fsS --max-time 20 "$@" "http://127.0.0.1:$VM_HTTP$path"
}

# https PATH [curl args...]: the box's HTTPS entry (admin UI, API). The certificate is signed
# by the box's own CA, which a test has no reason to trust: not checked. The cookie jar in
# $VM_DIR keeps the admin session.
https() {
  local path=$1
  shift
  curl -fsS --insecure --max-time 180 -b "$VM_DIR/cookies" -c "$VM_DIR/cookies" "$@" "https://127.0.0.1:$VM_HTTPS$path"
}

# Puts a file into the EFI partition (partition 2) of a raw disk image: headless provisioning.
efi_put() {
  local disk=$1 src=$2 dest=$3 offset
  offset=$(sfdisk --json "$disk" | jq -r '.partitiontable.partitions[1].start * 512')
  mmd -i "$disk@@$offset" ::/panier 2>/dev/null || true
  mcopy -o -i "$disk@@$offset" "$src" "::$dest"
}

# provision_stick OUT DIR: a 16 MiB FAT image labelled PANIER holding DIR's files in panier/,
# as a workshop prepares a provisioning USB stick.
provision_stick() {
  truncate -s 16M "$1"
  mkfs.vfat -n PANIER "$1" > /dev/null
  mmd -i "$1" ::/panier
  mcopy -i "$1" "$2"/* ::/panier/
}

# Reads GRUB's environment block from the EFI partition of a raw disk image.
efi_grubenv() {
  local disk=$1 offset
  offset=$(sfdisk --json "$disk" | jq -r '.partitiontable.partitions[1].start * 512')
  mcopy -i "$disk@@$offset" ::/EFI/BOOT/grubenv - | tr -d '#' | grep -a =
}

# busybox_tar OUT: a root filesystem tarball holding Debian's static busybox (busybox-static)
# and its applets as links, as tests/src/engine.rs builds for the host tests: the suite imports
# it into the box's Docker Engine (`docker import`), since the box has no registry to pull from.
busybox_tar() {
  local out=$1 root applet
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/var/www" "$root/etc"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\n' > "$root/etc/passwd"
  printf 'root:x:0:\nwww:x:33:\n' > "$root/etc/group"
  tar -C "$root" -cf "$out" .
  rm -rf "$root"
}

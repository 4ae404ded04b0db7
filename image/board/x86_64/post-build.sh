#!/usr/bin/env bash
# Finishes the root filesystem after the overlay is copied, before it becomes a squashfs.
# Buildroot runs it with the target directory as $1 (BR2_ROOTFS_POST_BUILD_SCRIPT); the QEMU
# test image runs it the same way on its Debian root filesystem.
#
# Environment: PANIER_RAUC_KEYRING, the certificate (chain) bundles must be signed with; the
# development keyring made by image/scripts/make-dev-keys.sh when unset (see rauc/README.md).
set -euo pipefail

target=${1:?usage: post-build.sh TARGET_DIR}
board=$(cd "$(dirname "$0")" && pwd)
keys_dir=${PANIER_RAUC_KEYS_DIR:-${BASE_DIR:-/var/cache/panier/image}/rauc-dev-keys}

# RAUC: the slots description and the keyring bundles are checked against.
keyring=${PANIER_RAUC_KEYRING:-}
if [ -z "$keyring" ]; then
  "$board/../../scripts/make-dev-keys.sh" "$keys_dir" >&2
  keyring="$keys_dir/cert.pem"
  echo "post-build: WARNING: signing with development keys from $keys_dir" >&2
fi
install -D -m 0644 "$board/rauc/system.conf" "$target/etc/rauc/system.conf"
install -D -m 0644 "$keyring" "$target/etc/rauc/keyring.pem"

# Mount points of the read-only root: the EFI partition, the data partition, and the stick
# headless provisioning reads.
mkdir -p "$target/boot/efi" "$target/data"

# The root is read-only: systemd keeps a transient machine-id over an empty file.
: > "$target/etc/machine-id"
rm -f "$target/var/lib/dbus/machine-id"

# Every box makes its own SSH host keys on the data partition (panier-provision).
rm -f "$target"/etc/ssh/ssh_host_*
if [ -f "$target/etc/ssh/sshd_config" ] && ! grep -q '^Include /etc/ssh/sshd_config.d/' "$target/etc/ssh/sshd_config"; then
  sed -i '1i Include /etc/ssh/sshd_config.d/*.conf' "$target/etc/ssh/sshd_config"
fi

# resolv.conf follows systemd-resolved.
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$target/etc/resolv.conf"

# Enable or disable the units the preset file names, and only those: Buildroot presets every
# unit anyway, and the Debian test root keeps its packages' own choices for the others.
preset="$target/etc/systemd/system-preset/80-panier.preset"
units=()
while read -r _ unit; do
  [ -e "$target/usr/lib/systemd/system/$unit" ] || [ -e "$target/etc/systemd/system/$unit" ] \
    || [ -e "$target/lib/systemd/system/$unit" ] && units+=("$unit")
done < <(grep -E '^(enable|disable) ' "$preset")
systemctl --root="$target" preset "${units[@]}"
# The first console is the banner's; logins happen on the others and on the serial console.
systemctl --root="$target" mask getty@tty1.service

# The system's version (dotted numbers), which the agent compares with the update channel's
# releases; post-image.sh names the bundle after it.
version=${PANIER_VERSION:-$(date -u +%Y.%m.%d)}
install -d "$target/usr/share/panier"
printf '%s\n' "$version" > "$target/usr/share/panier/os-version"
# The release key the update channel's index (and an update stick's) is signed with: the
# minisign public key PANIER_RELEASE_PUBKEY names, or the development one make-dev-keys.sh
# makes (never for release).
release_key=${PANIER_RELEASE_PUBKEY:-}
if [ -z "$release_key" ]; then
  "$board/../../scripts/make-dev-keys.sh" "$keys_dir" >&2
  release_key="$keys_dir/release.pub"
  echo "post-build: WARNING: trusting the development release key from $keys_dir" >&2
fi
install -m 0644 "$release_key" "$target/usr/share/panier/release.pub"

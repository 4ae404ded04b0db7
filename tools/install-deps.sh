#!/usr/bin/env bash
# Installs the Debian packages Panier's run and test commands need. Idempotent: when every
# package is already installed it does nothing (no apt-get update, no network).
set -euo pipefail

packages=(
  # build
  build-essential pkg-config git curl jq sqlite3 bc time
  # container engines (dockerd is the primary target, podman the compatibility check)
  docker.io runc podman busybox-static
  # firewall and networking tests
  nftables iproute2 iputils-ping netcat-openbsd avahi-utils avahi-daemon libnss-mdns dbus-daemon
  # admin UI browser test and benchmarks
  chromium chromium-driver wrk nginx-light
  # backups
  restic openssh-client openssh-server
  # hardware tools
  smartmontools dmidecode hdparm util-linux
  # image: checks, assembly and QEMU boot
  shellcheck grub-common grub-pc-bin grub-efi-amd64-bin mmdebstrap squashfs-tools
  dosfstools mtools e2fsprogs fdisk genimage qemu-system-x86 ovmf rauc systemd
  # catalog: a local container registry and image copies (realapps, issue 15)
  docker-registry skopeo
  # real applications' clients in the tests (tests/clients/; the applications themselves are
  # only inside the test images, which mmdebstrap fetches)
  python3 python3-caldav python3-slixmpp python3-requests
  # image packs: the minisign tool, to check that packs and the tool agree both ways (offline, issue 19)
  minisign
  # health alerts: a real SMTP server with STARTTLS and login for the mail tests (day two, issue 20)
  python3-aiosmtpd openssl
  # reach (issue 18): ACME test authority, RFC 2136 DNS server with TSIG and dig, WireGuard in
  # userspace and its tools for the relay
  pebble knot knot-dnsutils bind9-dnsutils wireguard-go wireguard-tools
  # image: the kernel fragments checked against a kernel source tree
  linux-source-6.1 flex bison
)

# The browser test's accessibility check fetches axe-core with npm (tools/fetch-axe.sh): any
# Node.js that brings npm will do, else Debian's.
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "panier: installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

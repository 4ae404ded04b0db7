#!/usr/bin/env bash
# Makes a signed RAUC bundle (verity format) holding one root filesystem image.
# Usage: make-bundle.sh ROOTFS_SQUASHFS OUTPUT.raucb VERSION CERT KEY
set -euo pipefail
rootfs=${1:?usage: make-bundle.sh ROOTFS OUTPUT VERSION CERT KEY}
output=${2:?missing OUTPUT}
version=${3:?missing VERSION}
cert=${4:?missing CERT}
key=${5:?missing KEY}

work=$(mktemp -d "${TMPDIR:-/tmp}/panier-bundle.XXXXXX")
trap 'rm -rf "$work"' EXIT
# A hard link when possible: the root filesystem is hundreds of megabytes.
ln "$rootfs" "$work/rootfs.img" 2>/dev/null || cp "$rootfs" "$work/rootfs.img"
cat > "$work/manifest.raucm" <<MANIFEST
[update]
compatible=panier-x86_64
version=$version

[bundle]
format=verity

[image.rootfs]
filename=rootfs.img
MANIFEST
rm -f "$output"
# The root filesystem inside is compressed already: compressing it again (mksquashfs's
# default) costs minutes of CPU for nothing.
rauc bundle --cert "$cert" --key "$key" --mksquashfs-args="-noI -noD -noF -noX" "$work" "$output" > /dev/null

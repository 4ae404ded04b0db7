#!/usr/bin/env bash
# Makes development keys in DIR (once; kept afterwards), never for release (rauc/README.md):
# - key.pem and cert.pem: a RAUC bundle signing key, its self-signed certificate doubling as
#   the keyring;
# - release.key and release.pub: a minisign release key (no password) for the update
#   channel's index, the public half going into the image as /usr/share/panier/release.pub.
# Usage: make-dev-keys.sh DIR
set -euo pipefail
dir=${1:?usage: make-dev-keys.sh DIR}
mkdir -p "$dir"
chmod 0700 "$dir"
if ! [ -s "$dir/key.pem" ] || ! [ -s "$dir/cert.pem" ]; then
  openssl req -x509 -newkey rsa:3072 -nodes -days 3650 \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" \
    -subj "/O=Panier development/CN=Panier development bundles" 2>/dev/null
  echo "make-dev-keys: development bundle keys made in $dir" >&2
fi
if ! [ -s "$dir/release.key" ] || ! [ -s "$dir/release.pub" ]; then
  minisign -G -W -f -p "$dir/release.pub" -s "$dir/release.key" > /dev/null
  echo "make-dev-keys: development release key made in $dir" >&2
fi

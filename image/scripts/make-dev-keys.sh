#!/usr/bin/env bash
# Makes a development signing key for RAUC bundles in DIR (once; kept afterwards), with a
# self-signed certificate that doubles as the keyring. Never for release (rauc/README.md).
# Usage: make-dev-keys.sh DIR
set -euo pipefail
dir=${1:?usage: make-dev-keys.sh DIR}
if [ -s "$dir/key.pem" ] && [ -s "$dir/cert.pem" ]; then exit 0; fi
mkdir -p "$dir"
chmod 0700 "$dir"
openssl req -x509 -newkey rsa:3072 -nodes -days 3650 \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" \
  -subj "/O=Panier development/CN=Panier development bundles" 2>/dev/null
echo "make-dev-keys: development keys made in $dir" >&2

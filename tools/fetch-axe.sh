#!/usr/bin/env bash
# Fetches axe-core, the accessibility engine the browser test injects into Chromium, from the
# npm registry once (`npm pack`, no node_modules), checks the tarball against the SHA-512 pinned
# here, keeps its axe.min.js under the machine's cache and prints that file's path.
# Usage: tools/fetch-axe.sh   (PANIER_NPM_CACHE overrides /var/cache/panier/npm)
set -euo pipefail

version=4.10.3
sha512=5e6edba515e70d25f6604d9815f064d859c5d1ea7ab661bbc4f87c88779ef0c21cae0abbeb636471ef39e9d62d2582e4b88a1866f19f4ecfcf6d986275e4dc12
dir="${PANIER_NPM_CACHE:-/var/cache/panier/npm}/axe-core-$version"

if [ ! -s "$dir/axe.min.js" ]; then
  if ! command -v npm >/dev/null; then
    echo "panier: npm is needed to fetch axe-core (tools/install-deps.sh installs it)" >&2
    exit 1
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "axe-core@$version" >/dev/null)
  echo "$sha512  $tmp/axe-core-$version.tgz" | sha512sum --check --quiet - >&2 || {
    echo "panier: axe-core-$version.tgz does not match its pinned SHA-512" >&2
    exit 1
  }
  tar -xzf "$tmp/axe-core-$version.tgz" -C "$tmp" package/axe.min.js
  mkdir -p "$dir"
  mv "$tmp/package/axe.min.js" "$dir/axe.min.js.part"
  mv "$dir/axe.min.js.part" "$dir/axe.min.js"
fi
echo "$dir/axe.min.js"

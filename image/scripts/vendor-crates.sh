#!/usr/bin/env bash
# Vendors every crate the workspace needs into vendor/ (or DIR), for package/panier: Buildroot
# builds the agent offline from it. Run it on a connected machine before `make`.
# Usage: vendor-crates.sh [DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-$root/vendor}
cargo vendor --locked --manifest-path "$root/Cargo.toml" "$dir" > /dev/null
echo "vendor-crates: crates vendored in $dir" >&2

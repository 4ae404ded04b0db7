#!/usr/bin/env bash
# One visitor's flood (issue 16): 1,100 slow connections from a LAN namespace to an agent
# limited to 1024 file descriptors, while the admin UI, the portal and the local socket must
# keep answering. Prints the agent's resident memory before, during and after the attack and
# its open file descriptors during it (the system test harden_flood, release build; needs
# root for the namespaces).
set -euo pipefail
cd "$(dirname "$0")/../.."
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
export PANIER_BIN="${PANIER_BIN:-$target/release/panier}"
cargo test -q -p panier-system-tests --test harden_flood -- --nocapture 2>&1 | grep -E "agent memory|test result|panicked"

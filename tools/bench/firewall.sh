#!/usr/bin/env bash
# Firewall: time to build and apply the whole table inet panier for 50 services with the real
# nft, in a scratch network namespace (needs root) [target ≤ 200 ms].
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo run --quiet --release -p panier --example firewall_bench

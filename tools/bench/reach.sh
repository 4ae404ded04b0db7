#!/usr/bin/env bash
# Beyond the building (issue 18): requests per second and p99 latency of a small page from an
# outside client through the relay (WireGuard over wireguard-go, nftables DNAT), against the
# same page from the LAN, in the same run, and the agent's memory. Namespaces as in
# tests/tests/relay.rs; the figures are printed, nothing is pass/fail.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
export PANIER_BIN="${PANIER_BIN:-$target/release/panier}"
export BENCH_DURATION=${BENCH_DURATION:-10s}
cargo test --release -q -p panier-system-tests --test relay -- --ignored --nocapture \
  bench_a_small_page_through_the_relay_against_the_lan 2>&1 | grep -E 'requests/s|agent memory|panicked|error'

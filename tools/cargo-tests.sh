#!/usr/bin/env bash
# Builds the workspace and runs every cargo test (unit, golden files, router, system tests).
# The system tests find the agent binary through PANIER_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
cargo build --workspace --bins
export PANIER_BIN="$target/debug/panier"
cargo test --workspace --no-fail-fast -- --test-threads="${PANIER_TEST_THREADS:-2}"

#!/usr/bin/env bash
# Builds the workspace and runs every cargo test (unit, golden files, router, system tests).
# One dockerd is started for the whole run (its own data root under /var/lib/panier-test) and
# given to the system tests as PANIER_TEST_ENGINE; the agent binary is given as PANIER_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
cargo build --workspace --bins
export PANIER_BIN="$target/debug/panier"
PANIER_TEST_ENGINE=$(bash tools/start-engine.sh /run/panier-test /var/lib/panier-test/engine)
export PANIER_TEST_ENGINE
cargo test --workspace --no-fail-fast -- --test-threads="${PANIER_TEST_THREADS:-2}"

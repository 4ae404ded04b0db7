#!/usr/bin/env bash
# Hardware tools: probe time on this machine [≤ 2 s] and wipe-verification throughput on a
# loop device (root needed).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo run --quiet --release -p panier-hw --example bench -- 256

#!/usr/bin/env bash
# Runs every benchmark script under tools/bench/ in turn; each prints its own figures.
set -euo pipefail
cd "$(dirname "$0")/.."
for script in tools/bench/*.sh; do
  echo "== $script"
  bash "$script" "$@"
done

#!/usr/bin/env bash
# Runs every benchmark under tools/bench/ in turn. Each prints its figures; none is pass/fail.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
cargo build --release --workspace --bins
status=0
for bench in tools/bench/*.sh; do
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$(basename "$bench" .sh)"; then
    continue
  fi
  echo "==> $(basename "$bench" .sh)"
  bash "$bench" || { echo "==> $(basename "$bench" .sh) could not run"; status=1; }
done
exit $status

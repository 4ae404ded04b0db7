#!/usr/bin/env bash
# The fast first suite: formatting, clippy with warnings as errors, shellcheck (warnings) on the
# tools and the QEMU suites, and the HTTP layers' dependency rule (api/ and web/ never import
# each other). Fails on the first problem, naming it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
mapfile -t scripts < <(grep -rlE '^#!/usr/bin/env bash' tools tests/qemu tests/images; ls tests/qemu/lib.sh)
shellcheck -x -S warning "${scripts[@]}"

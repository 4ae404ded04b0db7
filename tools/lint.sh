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

# The HTTP layers depend on the domain modules and on http/, never on each other, and the CLI
# (a client of the socket API) never on the pages: name each file that breaks the rule.
layer_rule() {
  local dir=$1 forbidden=$2 found
  found=$(grep -rlE "(crate|super)::${forbidden}(::|\b)|^use panier::${forbidden}\b" "agent/src/$dir" || true)
  if [ -n "$found" ]; then
    echo "lint: agent/src/$dir must not use crate::$forbidden (see agent/src/http/mod.rs):" >&2
    echo "$found" >&2
    return 1
  fi
}
layer_rule api web
layer_rule cli web
layer_rule web api

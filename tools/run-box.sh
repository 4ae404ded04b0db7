#!/usr/bin/env bash
# The box's main job on this machine: a container engine (started if none is running), the
# agent built in release mode with its state in /var/lib/panier-dev, the admin UI on a local
# port. It prints the admin URL and the setup code. Stop it with Ctrl-C.
#
# Environment: PANIER_DATA (state), PANIER_LISTEN (admin UI address, default 127.0.0.1:8443),
# PANIER_FIREWALL (on|off, default off: on this machine the box's firewall would take over the
# host's input policy; the firewall is exercised in network namespaces by the system tests).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${PANIER_DATA:-/var/lib/panier-dev}
listen=${PANIER_LISTEN:-127.0.0.1:8443}
run_dir=/run/panier-dev
mkdir -p "$data" "$run_dir"
engine=$(bash tools/start-engine.sh "$run_dir" "$data/engine")
cargo build --release -p panier
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
echo "panier: engine $engine; state in $data"
exec "$target/release/panier" agent --config "$data/panier.toml" --data-dir "$data" \
  --listen "$listen" --socket "$run_dir/panier.sock" --engine "$engine" --catalog "$PWD/services" \
  --firewall "${PANIER_FIREWALL:-off}" "$@"

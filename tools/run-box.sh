#!/usr/bin/env bash
# The box's main job on this machine: a container engine (started if none is running), the
# agent built in release mode with its state in /var/lib/panier-dev and the repository's
# service catalog, the web entry on local ports: the portal and services by name over HTTP,
# the admin UI over HTTPS with the box's own authority. It prints the admin URL and the setup
# code. Stop it with Ctrl-C.
#
# Environment: PANIER_DATA (state), PANIER_LISTEN (admin UI, HTTPS; default 127.0.0.1:8443),
# PANIER_HTTP (portal, HTTP; default 127.0.0.1:8080), PANIER_FIREWALL (on|off; default off:
# this machine is not the box, its own input policy is not ours to replace).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${PANIER_DATA:-/var/lib/panier-dev}
listen=${PANIER_LISTEN:-127.0.0.1:8443}
http=${PANIER_HTTP:-127.0.0.1:8080}
run_dir=/run/panier-dev
mkdir -p "$data" "$run_dir"
engine=$(bash tools/start-engine.sh "$run_dir" "$data/engine")
cargo build --release -p panier
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
echo "panier: engine $engine; state in $data; portal at http://$http/ (the authority to trust: http://$http/ca)"
exec "$target/release/panier" agent --config "$data/panier.toml" --data-dir "$data" \
  --listen "$listen" --http-listen "$http" --no-mdns --service-port-base 18001 \
  --socket "$run_dir/panier.sock" --engine "$engine" --catalog "$PWD/services" \
  --firewall "${PANIER_FIREWALL:-off}" "$@"

#!/usr/bin/env bash
# Image-pack import benchmark: the throughput of `panier pack import` (checksum of the
# archive, then the load with its checksum again and the last chunk held back, then the
# content id checked) against a plain `docker load` of the very same archive, in the same run
# on the same engine. The image: busybox plus PANIER_BENCH_MIB (default 200) MiB of random
# data, pushed to a local docker-registry, packed with `panier pack create`. Prints figures;
# not pass/fail.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
bin=${PANIER_BIN:-$target/release/panier}
[ -x "$bin" ] || bin=$target/debug/panier
mib=${PANIER_BENCH_MIB:-200}
engine=${PANIER_TEST_ENGINE:-$(bash tools/start-engine.sh /run/panier-test /var/lib/panier-test/engine)}
work=$(mktemp -d /var/tmp/panier-bench-packs.XXXXXX)
tag=bench-pack$$
dock() { docker -H "$engine" "$@"; }
cleanup() {
  [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  [ -n "${registry_pid:-}" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
  [ -n "${image_id:-}" ] && dock rmi -f "$image_id" >/dev/null 2>&1
  dock rmi -f "panier-bench/$tag:1" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# The image: busybox and incompressible data.
rootfs="$work/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/data"
cp /bin/busybox "$rootfs/bin/busybox"
ln -s busybox "$rootfs/bin/sh"
head -c "${mib}M" /dev/urandom > "$rootfs/data/blob"
tar -C "$rootfs" -cf "$work/rootfs.tar" .
dock import --change 'CMD ["sh"]' "$work/rootfs.tar" "panier-bench/$tag:1" > /dev/null
rm -rf "$rootfs" "$work/rootfs.tar"

# A local registry, the image pushed there.
port=$((20000 + RANDOM % 20000))
cat > "$work/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
registry_pid=$!
until curl -fsS --max-time 1 "http://127.0.0.1:$port/v2/" > /dev/null 2>&1; do sleep 0.2; done
reference="127.0.0.1:$port/panier-bench/$tag:1"
skopeo copy --quiet --src-daemon-host "$engine" --dest-tls-verify=false \
  "docker-daemon:panier-bench/$tag:1" "docker://$reference"
dock rmi "panier-bench/$tag:1" > /dev/null

# The catalog entry and the pack.
mkdir -p "$work/catalog/bench"
sed -e 's/^id = "site"$/id = "bench"/' -e "s|^image = .*|image = \"$reference\"|" \
  "$root/tests/catalog/site/manifest.toml" > "$work/catalog/bench/manifest.toml"
cp "$root"/tests/catalog/site/{icon.svg,description.fr.md,description.en.md} "$work/catalog/bench/"
"$bin" pack key new "$work/bench.key" > /dev/null
"$bin" pack create bench --out "$work/pack" --key "$work/bench.key" --engine "$engine" --catalog "$work/catalog" > /dev/null
kill "$registry_pid"; wait "$registry_pid" 2>/dev/null || true; registry_pid=
archive=$(ls "$work"/pack/images/*.tar)
bytes=$(stat -c %s "$archive")
image_id=sha256:$(basename "$archive" .tar)
dock rmi -f "$image_id" > /dev/null

mbps() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }
now() { date +%s.%N; }

# Plain docker load of the archive (page cache warmed by the pack's own read-back).
t0=$(now); dock load -q -i "$archive" > /dev/null; t1=$(now)
load_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
dock rmi -f "$image_id" > /dev/null

# panier pack import through the agent.
sock="$work/panier.sock"
"$bin" agent --data-dir "$work/data" --listen "127.0.0.1:$((port + 1))" --socket "$sock" --engine "$engine" \
  --catalog "$work/catalog" --firewall off --config /dev/null > "$work/agent.log" 2>&1 &
agent_pid=$!
until [ -S "$sock" ] && "$bin" status --socket "$sock" > /dev/null 2>&1; do sleep 0.2; done
"$bin" pack key add bench "$work/bench.key.pub" --socket "$sock" > /dev/null
t0=$(now); "$bin" pack import "$work/pack" --follow --socket "$sock" > /dev/null; t1=$(now)
import_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
dock image inspect "$image_id" > /dev/null

echo "archive: $((bytes / 1000000)) MB ($mib MiB of random data + busybox)"
echo "docker load:        $(printf '%.2f' "$load_s") s, $(mbps "$load_s") MB/s"
echo "panier pack import: $(printf '%.2f' "$import_s") s, $(mbps "$import_s") MB/s (signature, two checksums, content id; the job's polling adds up to 0.3 s)"

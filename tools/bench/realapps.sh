#!/usr/bin/env bash
# Real-application benchmark: for each test service of tests/realapps/ (Debian's radicale,
# prosody and dokuwiki in the test images of tests/images/), the time from `panier app install`
# to the service healthy (the install job: the pull from a local docker-registry by digest,
# create, start, health checks passed, first-run setup done), on a real dockerd; also the
# image's build time (0 when cached) and its size. Each service is removed with its data
# afterwards. Prints figures; not pass/fail. REALAPPS="radicale dokuwiki" picks some.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
bin=${PANIER_BIN:-$target/release/panier}
[ -x "$bin" ] || bin=$target/debug/panier
engine=${PANIER_TEST_ENGINE:-$(bash tools/start-engine.sh /run/panier-test /var/lib/panier-test/engine)}
apps=${REALAPPS:-radicale prosody dokuwiki}
work=$(mktemp -d /var/tmp/panier-bench-realapps.XXXXXX)
sfx=b$$
cleanup() {
  if [ -n "${agent_pid:-}" ]; then
    for app in $apps; do
      "$bin" app remove "$app-$sfx" --delete-data --confirm "$app-$sfx" --follow --socket "$work/panier.sock" > /dev/null 2>&1 || true
    done
    kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  fi
  [ -n "${registry_pid:-}" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

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

declare -A built size
for app in $apps; do
  t0=$(now)
  layout=$(bash tests/images/build.sh "$app")
  built[$app]=$(secs "$t0" "$(now)")
  size[$app]=$(du -sm "$layout/blobs" | cut -f1)
  skopeo copy --quiet --dest-tls-verify=false --digestfile "$work/digest" \
    "oci:$layout:$app" "docker://127.0.0.1:$port/panier-test/$app:bookworm"
  pinned="127.0.0.1:$port/panier-test/$app:bookworm@$(cat "$work/digest")"
  mkdir -p "$work/catalog/$app-$sfx"
  cp "$root/tests/realapps/$app"/* "$work/catalog/$app-$sfx/"
  # The published port of prosody moved off 5222, which the machine may use.
  sed -i -e "s|^id = \"$app\"|id = \"$app-$sfx\"|" \
    -e "s|127.0.0.1:5000/panier-test/$app:bookworm|$pinned|" \
    -e "s|^host_port = 5222|host_port = $((port + 1))|" "$work/catalog/$app-$sfx/manifest.toml"
done

sock="$work/panier.sock"
"$bin" agent --data-dir "$work/data" --listen "127.0.0.1:$((port + 2))" --socket "$sock" --engine "$engine" \
  --catalog "$work/catalog" --firewall off --config /dev/null > "$work/agent.log" 2>&1 &
agent_pid=$!
until [ -S "$sock" ] && "$bin" status --socket "$sock" > /dev/null 2>&1; do sleep 0.2; done

printf '%-10s %14s %10s %22s\n' service "image build" "image" "install → healthy"
for app in $apps; do
  case $app in
    radicale) set_args=(--set "password=un agenda bien gardé") ;;
    prosody) set_args=(--set "admin_password=un salon bien gardé") ;;
    dokuwiki) set_args=(--set "admin_password=un wiki bien gardé") ;;
    *) set_args=() ;;
  esac
  t0=$(now)
  "$bin" app install "$app-$sfx" "${set_args[@]}" --follow --socket "$sock" > "$work/install-$app.log" 2>&1 \
    || { echo "$app: install failed:"; tail -n 5 "$work/install-$app.log"; continue; }
  printf '%-10s %12s s %7s MB %20s s\n' "$app" "${built[$app]}" "${size[$app]}" "$(secs "$t0" "$(now)")"
done
echo "(health checks every 2 s; the engine pulls from a registry on loopback; an image build under a second: it was cached)"

#!/usr/bin/env bash
# Services figures (issue 3 targets in brackets), against a real dockerd: with 20 services
# installed from the test catalog (copies of `site` with distinct ids, the small busybox httpd
# image), the time of the agent's first reconciliation after a restart when there is nothing
# to change [< 2 s], and the agent's resident memory per running service (RSS with 20 running
# minus RSS with none, over 20) [< 1 MB]. Prints figures, not pass/fail. SERVICES=N changes
# the count.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
bin="$target/release/panier"
[ -x "$bin" ] || { bin="$target/debug/panier"; echo "note: no release binary, using $bin (debug)"; }
N=${SERVICES:-20}
work=$(mktemp -d /tmp/panier-bench-services.XXXXXX)
# A dockerd of its own: each service has its own network, and Docker's default address pools
# (one /16 each, ~30 in all) are soon used up on a shared test engine. Here they are /24s, as
# a box with many services needs too (see the report of this benchmark). No bridge of its own
# and no iptables rules: it must not disturb the machine's engine, and nothing here needs
# traffic to the containers.
engine_dir=/var/lib/panier-test/bench-services-engine
mkdir -p "$engine_dir"
engine="unix://$work/docker.sock"
setsid dockerd --host "$engine" --data-root "$engine_dir/data" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
  --bridge none --iptables=false --ip-masq=false --default-address-pool base=10.213.0.0/16,size=24 \
  >"$work/dockerd.log" 2>&1 </dev/null &
dockerd_pid=$!
until curl -fsS --max-time 2 --unix-socket "$work/docker.sock" http://engine/_ping >/dev/null 2>&1; do
  kill -0 "$dockerd_pid" 2>/dev/null || { echo "dockerd did not start:"; tail -n 5 "$work/dockerd.log"; exit 1; }
  sleep 0.2
done
port=$((20000 + RANDOM % 20000))
sock="$work/panier.sock"
ids=()
for i in $(seq -w 1 "$N"); do ids+=("bench$$-$i"); done

dock() { docker -H "$engine" "$@"; }
stop_agent() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=; }
cleanup() {
  stop_agent || true
  for id in "${ids[@]}"; do
    dock ps -aq --filter "label=org.panier.app=$id" | xargs -r docker -H "$engine" rm -f >/dev/null 2>&1 || true
    dock network ls -q --filter "label=org.panier.app=$id" | xargs -r docker -H "$engine" network rm >/dev/null 2>&1 || true
  done
  kill "$dockerd_pid" 2>/dev/null && wait "$dockerd_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The test image (as tests/src/engine.rs builds it): Debian's static busybox, no registry.
if ! dock image inspect panier-test/busybox:1 >/dev/null 2>&1; then
  rootfs="$work/rootfs"
  mkdir -p "$rootfs"/{bin,tmp,var/www,data,etc}
  cp /bin/busybox "$rootfs/bin/busybox"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$rootfs/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nwww:x:33:\n' >"$rootfs/etc/group"
  tar -C "$rootfs" -cf "$work/rootfs.tar" .
  dock import --change 'CMD ["sh"]' "$work/rootfs.tar" panier-test/busybox:1 >/dev/null
fi

# The catalog: N copies of the test site with distinct ids.
for id in "${ids[@]}"; do
  mkdir -p "$work/catalog"
  cp -r "$root/tests/catalog/site" "$work/catalog/$id"
  sed "s/^id = \"site\"/id = \"$id\"/" "$root/tests/catalog/site/manifest.toml" >"$work/catalog/$id/manifest.toml"
done

start_agent() {
  PANIER_LOG_STDERR=1 "$bin" agent --config "$work/none.toml" --data-dir "$work/data" --listen "127.0.0.1:$port" --firewall off \
    --socket "$sock" --engine "$engine" --catalog "$work/catalog" >>"$work/agent.log" 2>&1 &
  pid=$!
  until curl -fs "http://127.0.0.1:$port/api/v1/health" >/dev/null 2>&1; do sleep 0.02; done
}
first_pass() { # waits for the line of the agent's latest start and prints it
  local before=$1
  until [ "$(grep -c 'first reconciliation' "$work/agent.log")" -gt "$before" ]; do sleep 0.1; done
  grep 'first reconciliation' "$work/agent.log" | tail -n 1
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
running() { "$bin" app list --json --socket "$sock" | jq '[.[] | select(.state == "running")] | length'; }

touch "$work/none.toml"
start_agent
code=$("$bin" setup-code --socket "$sock")
curl -fs -X POST "http://127.0.0.1:$port/api/v1/setup" -H 'content-type: application/json' \
  -d "{\"code\":\"$code\",\"box_name\":\"bench\",\"username\":\"camille\",\"password\":\"un mot de passe\"}"
first_pass 0 >/dev/null
sleep 3
rss0=$(rss_kb)

t0=$(date +%s%N)
for id in "${ids[@]}"; do "$bin" app install "$id" --socket "$sock" >/dev/null; done
until [ "$(running)" -eq "$N" ]; do sleep 0.5; done
echo "install of $N services (jobs in parallel): $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# Restart: the first reconciliation finds everything in place.
stop_agent
start_agent
line=$(first_pass 1)
ms=$(sed -n 's/.* in \([0-9]*\) ms.*/\1/p' <<<"$line")
moves=$(sed -n 's/.* \([0-9]*\) moves.*/\1/p' <<<"$line")
sleep 3
rss20=$(rss_kb)
[ "$(running)" -eq "$N" ] || echo "warning: not every service runs after the restart"

verdict() { if [ "$1" = 1 ]; then echo "meets the target"; else echo "MISSES the target"; fi; }
echo "first reconciliation with $N services, nothing to change: $ms ms, $moves moves [target < 2000 ms]: $(verdict "$([ "$ms" -lt 2000 ] && echo 1)")"
per=$(awk -v a="$rss0" -v b="$rss20" -v n="$N" 'BEGIN {printf "%.2f", (b - a) / n / 1024}')
echo "agent RSS: $(awk -v a="$rss0" 'BEGIN {printf "%.1f", a/1024}') MB with 0 services, $(awk -v b="$rss20" 'BEGIN {printf "%.1f", b/1024}') MB with $N running"
echo "RSS per running service: $per MB [target < 1 MB]: $(verdict "$(awk -v p="$per" 'BEGIN {print (p < 1) ? 1 : 0}')")"

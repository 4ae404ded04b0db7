#!/usr/bin/env bash
# The agent's own figures (issue targets in brackets): cold start to ready on an empty data
# dir [≤ 1 s], idle resident memory [≤ 25 MB], and with 50 concurrent clients on this machine
# the p99 latency of the health endpoint [≤ 10 ms] and of the dashboard [≤ 50 ms], with wrk.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
bin="$target/release/panier"
work=$(mktemp -d /tmp/panier-bench.XXXXXX)
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

start=$(date +%s%N)
PANIER_LOG_STDERR=1 "$bin" agent --config "$work/none.toml" --data-dir "$work/data" --listen "127.0.0.1:$port" --firewall off \
  --socket "$work/panier.sock" >"$work/agent.log" 2>&1 &
pid=$!
until curl -fs "$base/api/v1/health" >/dev/null 2>&1; do sleep 0.005; done
ready=$(date +%s%N)
echo "cold start to ready: $(( (ready - start) / 1000000 )) ms [target ≤ 1000 ms]"

code=$("$bin" setup-code --socket "$work/panier.sock")
curl -fs -X POST "$base/api/v1/setup" -H 'content-type: application/json' \
  -d "{\"code\":\"$code\",\"box_name\":\"bench\",\"username\":\"camille\",\"password\":\"un mot de passe\"}"
cookie=$(curl -fs -D - -o /dev/null -X POST "$base/api/v1/login" -H 'content-type: application/json' \
  -d '{"username":"camille","password":"un mot de passe"}' | sed -n 's/^set-cookie: \([^;]*\).*/\1/ip')
sleep 2
echo "idle resident memory: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$pid/status) [target ≤ 25 MB]"

p99() { awk '/ 99%/ {print $2}'; }
health=$(wrk -t2 -c50 -d10s --latency "$base/api/v1/health" | tee "$work/health.txt" | p99)
echo "health endpoint, 50 clients: p99 $health, $(awk '/Requests\/sec/ {print $2}' "$work/health.txt") req/s [target p99 ≤ 10 ms]"
dash=$(wrk -t2 -c50 -d10s --latency -H "Cookie: $cookie" "$base/admin" | tee "$work/dash.txt" | p99)
echo "dashboard, 50 clients: p99 $dash, $(awk '/Requests\/sec/ {print $2}' "$work/dash.txt") req/s [target p99 ≤ 50 ms]"
grep -q "Non-2xx" "$work/dash.txt" && echo "warning: the dashboard answered non-2xx: $(grep Non-2xx "$work/dash.txt")"
echo "resident memory after load: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$pid/status)"

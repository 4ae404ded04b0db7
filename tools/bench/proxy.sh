#!/usr/bin/env bash
# The reverse proxy against nginx, side by side in one run (issue 4's targets in brackets):
# requests per second and p99 latency of a small page through `panier agent`'s HTTP entry
# (by name, `Host: web-bench.local`) and through Debian's nginx (nginx-light, keep-alive to
# the upstream), both proxying the same backend (a static page served by that nginx), with
# wrk. Each side runs twice, alternating, and its better run counts, so a burst of load from
# elsewhere on the machine does not decide alone. [throughput ≥ 80 % of nginx's, p99 ≤ 2×]
set -euo pipefail
cd "$(dirname "$0")/../.."
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
bin="${PANIER_BIN:-$target/release/panier}"
connections=${BENCH_CONNECTIONS:-32}
duration=${BENCH_DURATION:-10s}
work=$(mktemp -d /tmp/panier-bench-proxy.XXXXXX)
base=$((20000 + RANDOM % 20000))
backend=$base nginx_port=$((base + 1)) http_port=$((base + 2)) https_port=$((base + 3))
cleanup() {
  [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null
  [ -n "${nginx_pid:-}" ] && kill "$nginx_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/www" "$work/tmp"
chmod 755 "$work" "$work/www"  # nginx's workers run as www-data
printf '<!doctype html><title>Médiathèque</title><h1>Bonjour</h1><p>Une petite page servie derrière le proxy.</p>\n' >"$work/www/index.html"
cat >"$work/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/tmp/body; proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi; uwsgi_temp_path $work/tmp/uwsgi; scgi_temp_path $work/tmp/scgi;
  upstream backend { server 127.0.0.1:$backend; keepalive 128; }
  server { listen 127.0.0.1:$backend; root $work/www; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
    }
  }
}
EOF
nginx -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" -g 'daemon off;' &
nginx_pid=$!

cat >"$work/panier.toml" <<EOF
box_name = "bench"
[[extra_routes]]
name = "web"
upstream = "127.0.0.1:$backend"
EOF
PANIER_LOG_STDERR=1 "$bin" agent --config "$work/panier.toml" --data-dir "$work/data" --firewall off --socket "$work/panier.sock" \
  --listen "127.0.0.1:$https_port" --http-listen "127.0.0.1:$http_port" --service-port-base $((base + 10)) --no-mdns \
  >"$work/agent.log" 2>&1 &
agent_pid=$!

panier_url="http://127.0.0.1:$http_port/"
nginx_url="http://127.0.0.1:$nginx_port/"
host="Host: web-bench.local"
for i in $(seq 400); do
  curl -fs -H "$host" "$panier_url" 2>/dev/null | grep -q Bonjour && curl -fs "$nginx_url" 2>/dev/null | grep -q Bonjour && break
  [ "$i" = 400 ] && { echo "the proxies did not come up"; cat "$work/agent.log" "$work/nginx-error.log"; exit 1; }
  sleep 0.05
done

# wrk's latency with its unit (us, ms, s) → milliseconds.
to_ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.2f", v }'; }
run() { # name url → "rps p99_ms" (and the raw output in $work/<name>.txt)
  wrk -t2 -c"$connections" -d"$duration" --latency -H "$host" "$2" >"$work/$1.txt"
  if grep -q -e "Non-2xx" -e "Socket errors" "$work/$1.txt"; then echo "warning ($1): $(grep -e Non-2xx -e 'Socket errors' "$work/$1.txt")" >&2; fi
  echo "$(awk '/Requests\/sec/ {print $2}' "$work/$1.txt") $(awk '/ 99%/ {print $2}' "$work/$1.txt" | to_ms)"
}

wrk -t2 -c"$connections" -d2s -H "$host" "$panier_url" >/dev/null
wrk -t2 -c"$connections" -d2s "$nginx_url" >/dev/null
best_rps() { printf '%s\n' "$@" | awk '{ if ($1 > b) b = $1 } END { print b }'; }
best_p99() { printf '%s\n' "$@" | awk 'NR == 1 || $2 < b { b = $2 } END { print b }'; }
n1=$(run nginx1 "$nginx_url"); p1=$(run panier1 "$panier_url")
n2=$(run nginx2 "$nginx_url"); p2=$(run panier2 "$panier_url")
echo "runs (req/s, p99 ms), $connections connections, $duration each: nginx $n1 | $n2; panier $p1 | $p2"
nr=$(best_rps "$n1" "$n2") np=$(best_p99 "$n1" "$n2") pr=$(best_rps "$p1" "$p2") pp=$(best_p99 "$p1" "$p2")
ratio=$(awk -v a="$pr" -v b="$nr" 'BEGIN { printf "%.0f", 100 * a / b }')
factor=$(awk -v a="$pp" -v b="$np" 'BEGIN { printf "%.2f", a / b }')
met() { awk -v ok="$1" 'BEGIN { print (ok ? "met" : "NOT met") }'; }
echo "nginx:  $nr req/s, p99 $np ms"
echo "panier: $pr req/s, p99 $pp ms"
echo "throughput: $ratio % of nginx's [target ≥ 80 %: $(met "$((ratio >= 80))")]"
echo "p99: ${factor}× nginx's [target ≤ 2×: $(met "$(awk -v f="$factor" 'BEGIN { print (f <= 2) }')")]"
echo "agent resident memory after the runs: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$agent_pid/status)"

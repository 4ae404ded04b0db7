#!/usr/bin/env bash
# OS update budget: the time the agent takes to download a bundle of PANIER_BENCH_MIB
# (default 200) MiB from a local HTTPS mirror (Python's http.server behind TLS, an authority
# made with openssl) and check its size and SHA-256 against an index signed with minisign,
# and the agent's memory while it does (VmRSS sampled every 0.2 s, and VmHWM at the end).
# On this machine RAUC then refuses (no system slot), which ends the measured span right
# after the checks; in QEMU, RAUC's own writing time adds to it. Prints figures; not
# pass/fail.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
bin=${PANIER_BIN:-$target/release/panier}
[ -x "$bin" ] || bin=$target/debug/panier
mib=${PANIER_BENCH_MIB:-200}
work=$(mktemp -d /var/tmp/panier-bench-update.XXXXXX)
cleanup() {
  [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  [ -n "${mirror_pid:-}" ] && kill "$mirror_pid" 2>/dev/null && wait "$mirror_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The mirror's certificates, the release key, the bundle and its signed index.
mkdir -p "$work/www"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=Bench authority" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
  -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$work/ext.cnf"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
  -CAcreateserial -days 2 -extfile "$work/ext.cnf" -out "$work/server.pem" 2>/dev/null
minisign -G -W -f -p "$work/release.pub" -s "$work/release.key" > /dev/null
head -c "${mib}M" /dev/urandom > "$work/www/bundle.raucb"
size=$(stat -c %s "$work/www/bundle.raucb")
sha=$(sha256sum "$work/www/bundle.raucb" | cut -d' ' -f1)
now=$(date -u +%s)
cat > "$work/www/index.json" <<JSON
{"format": 1, "channel": "bench", "compatible": "panier-x86_64", "serial": 1,
 "published": "$(date -u -d "@$((now - 60))" +%Y-%m-%dT%H:%M:%SZ)",
 "expires": "$(date -u -d "@$((now + 86400))" +%Y-%m-%dT%H:%M:%SZ)",
 "releases": [{"version": "2027.1.0", "bundle": "bundle.raucb", "size": $size,
   "sha256": "$sha", "notes": {"fr": "Banc d'essai.", "en": "Benchmark."}}]}
JSON
minisign -S -s "$work/release.key" -m "$work/www/index.json" > /dev/null

port=$((20000 + RANDOM % 20000))
/usr/bin/python3 -c '
import functools, http.server, ssl, sys
port, cert, key, root = sys.argv[1:5]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
httpd.serve_forever()' "$port" "$work/server.pem" "$work/server.key" "$work/www" 2>/dev/null &
mirror_pid=$!

echo "2026.12.0" > "$work/os-version"
cat > "$work/panier.toml" <<TOML
[update]
channel = "https://localhost:$port/index.json"
ca = "$work/ca.pem"
key = "$work/release.pub"
version_file = "$work/os-version"
TOML
sock="$work/panier.sock"
PANIER_LOG_STDERR=1 "$bin" agent --config "$work/panier.toml" --data-dir "$work/data" \
  --listen "127.0.0.1:$((port + 1))" --socket "$sock" --firewall off > "$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1 300); do [ -S "$sock" ] && break; sleep 0.1; done
cli() { "$bin" "$@" --socket "$sock"; }
cli update check > /dev/null
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$agent_pid/status"; }
before=$(rss_kib)
peak=$before
start=$(date +%s.%N)
cli update install --version 2027.1.0 --at 3 > /dev/null
state=downloading
while [ "$state" = downloading ] || [ "$state" = installing ]; do
  sleep 0.2
  r=$(rss_kib); [ "$r" -gt "$peak" ] && peak=$r
  state=$(cli update status --json | jq -r '.attempt.state')
done
end=$(date +%s.%N)
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$agent_pid/status")
secs=$(echo "$end - $start" | bc -l)
printf 'bundle: %d MiB over HTTPS from loopback, then size and SHA-256 checked (agent: %s)\n' "$mib" "$bin"
printf 'download + verify: %.2f s (%.0f MiB/s); the attempt ended %s (%s)\n' "$secs" \
  "$(echo "$mib / $secs" | bc -l)" "$state" \
  "$(cli update status --json | jq -r '.attempt.error.key // "no error"')"
printf 'agent memory: %d MiB before, %d MiB peak RSS sampled while installing, %d MiB high-water mark\n' \
  $((before / 1024)) $((peak / 1024)) $((hwm / 1024))

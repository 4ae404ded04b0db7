# shellcheck shell=bash
# The QEMU suite's OS update channel (sourced by run-tests.sh): a local HTTPS mirror on the
# host (channel-server.py, reached from the box as 10.0.2.2 through QEMU's user network) with
# its own authority, serving an index signed with the development release key whose public
# half is in the image (build-test-image.sh), and the bundles. The box trusts the mirror's
# authority by the test image's `[update] ca` (/data/etc/panier/update-ca.pem), as a CHATONS
# running its own mirror would set it; the suite copies the authority there.

CHANNEL_DIR=""
CHANNEL_PORT=""
CHANNEL_SERIAL=0

# channel_start: makes the mirror's authority and certificate (for 10.0.2.2), starts the server.
channel_start() {
  CHANNEL_DIR="$VM_DIR/channel"
  mkdir -p "$CHANNEL_DIR/www"
  local d=$CHANNEL_DIR
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=Panier test mirror authority" -keyout "$d/ca.key" -out "$d/ca.pem" 2> /dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=10.0.2.2" -keyout "$d/server.key" -out "$d/server.csr" 2> /dev/null
  printf 'subjectAltName=IP:10.0.2.2\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/server.ext" -out "$d/server.pem" 2> /dev/null
  /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/channel-server.py" "$d/www" "$d/server.pem" "$d/server.key" "$d/port" \
    2> "$d/server.log" &
  echo $! > "$d/server.pid"
  for _ in $(seq 1 50); do [ -s "$d/port" ] && break; sleep 0.2; done
  CHANNEL_PORT=$(cat "$d/port")
  curl -fsS --cacert "$d/ca.pem" --resolve "10.0.2.2:$CHANNEL_PORT:127.0.0.1" "https://10.0.2.2:$CHANNEL_PORT/" > /dev/null \
    || fail "the test channel does not answer: $(cat "$d/server.log")"
  # Another key than the image's, for the wrong-signature case.
  minisign -G -W -f -p "$d/other.pub" -s "$d/other.key" > /dev/null
}

channel_stop() {
  if [ -n "$CHANNEL_DIR" ] && [ -f "$CHANNEL_DIR/server.pid" ]; then
    kill "$(cat "$CHANNEL_DIR/server.pid")" 2> /dev/null || true
  fi
}

# channel_url: the index's address, as the box reaches it.
channel_url() { echo "https://10.0.2.2:$CHANNEL_PORT/index.json"; }

# channel_publish BUNDLE VERSION [SHA256] [KEY]: copies BUNDLE into the mirror and publishes a
# new index (next serial) offering it as VERSION, signed with KEY (default: the image's
# development release key). SHA256 replaces the bundle's real checksum when given.
channel_publish() {
  local bundle=$1 version=$2 sha=${3:-} key=${4:-$image_dir/release.key} name now
  name=$(basename "$bundle")
  [ -f "$CHANNEL_DIR/www/$name" ] || cp "$bundle" "$CHANNEL_DIR/www/$name"
  [ -n "$sha" ] || sha=$(sha256sum "$bundle" | cut -d' ' -f1)
  CHANNEL_SERIAL=$((CHANNEL_SERIAL + 1))
  now=$(date +%s)
  jq -n --arg version "$version" --arg name "$name" --arg sha "$sha" \
    --argjson size "$(stat -c %s "$bundle")" --argjson serial "$CHANNEL_SERIAL" \
    --arg published "$(date -u -d "@$((now - 60))" +%Y-%m-%dT%H:%M:%SZ)" \
    --arg expires "$(date -u -d "@$((now + 7 * 86400))" +%Y-%m-%dT%H:%M:%SZ)" \
    '{format: 1, channel: "stable", compatible: "panier-x86_64", serial: $serial,
      published: $published, expires: $expires,
      releases: [{version: $version, bundle: $name, size: $size, sha256: $sha,
        notes: {fr: "Correctifs de sécurité (suite QEMU).", en: "Security fixes (QEMU suite)."}}]}' \
    > "$CHANNEL_DIR/www/index.json"
  rm -f "$CHANNEL_DIR/www/index.json.minisig"
  minisign -S -s "$key" -m "$CHANNEL_DIR/www/index.json" > /dev/null
}

# api METHOD PATH [JSON]: the admin API with the session's CSRF token ($csrf, set by the
# suite's login); prints the body whatever the status (a refusal's body says why).
csrf=${csrf:-}
api() {
  local method=$1 path=$2 body=${3:-}
  curl -sS --insecure --max-time 180 -b "$VM_DIR/cookies" -c "$VM_DIR/cookies" -X "$method" \
    -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' ${body:+-d "$body"} \
    "https://127.0.0.1:$VM_HTTPS/api/v1$path"
}

# update_field JQ: a field of the box's update status (GET /api/v1/update, the Update page's).
update_field() { https /api/v1/update | jq -r "$1"; }

# check_refused KEY WORDS: "check now" on the box must refuse the published index with the
# error KEY, its English text containing WORDS, kept in the status the Update page shows.
check_refused() {
  local said
  api POST /update/check '{}' > /dev/null
  [ "$(update_field .check_error.key)" = "$1" ] || fail "the index was not refused with $1: $(https /api/v1/update | jq -c .check_error)"
  said=$(update_field .check_error.en)
  grep -qF "$2" <<< "$said" || fail "the refusal does not say '$2': $said"
  log "refused as expected: $said"
}

# wait_attempt STATES TIMEOUT: waits until the latest installation's state is one of STATES
# (a regex); prints it.
wait_attempt() {
  local start state
  start=$(date +%s)
  while :; do
    state=$(update_field '.attempt.state // "none"' 2>/dev/null || echo unreachable)
    if grep -qxE "$1" <<< "$state"; then echo "$state"; return; fi
    [ $(( $(date +%s) - start )) -lt "$2" ] || fail "the installation is $state, not /$1/, after $2 s: $(https /api/v1/update | jq -c .attempt)"
    sleep 3
  done
}

#!/usr/bin/env bash
# Package-check benchmark: `panier catalog smoke` over test services of tests/catalog/ (site, a
# cold one, and notes, two containers with a hot backup), each with a previous catalog version
# so that the update step runs too, on the test engine. Prints the run's total and, per
# service, each step's time, from the JSON report. Prints figures; not pass/fail.
# SMOKE_SERVICES="site notes firstrun" changes the services.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
bin=${PANIER_BIN:-$target/release/panier}
[ -x "$bin" ] || { bin=$target/debug/panier; echo "note: no release binary, using $bin (debug)"; }
engine=${PANIER_TEST_ENGINE:-$(bash tools/start-engine.sh /run/panier-test /var/lib/panier-test/engine)}
services=${SMOKE_SERVICES:-site notes}
work=$(mktemp -d /tmp/panier-bench-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
dock() { docker -H "$engine" "$@"; }

# The test image (as tests/src/engine.rs builds it): Debian's static busybox and its applets.
if ! dock image inspect panier-test/busybox:1 > /dev/null 2>&1; then
  rootfs="$work/rootfs"
  mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/var/www" "$rootfs/data" "$rootfs/etc"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
  done
  tar -C "$rootfs" -cf "$work/rootfs.tar" .
  dock import --change 'CMD ["sh"]' "$work/rootfs.tar" panier-test/busybox:1 > /dev/null
  rm -rf "$rootfs" "$work/rootfs.tar"
fi

# The services under ids of their own, and their previous version (0.9-1).
mkdir -p "$work/catalog" "$work/previous" "$work/tmp"
ids=()
for s in $services; do
  id="bench${s}$$"
  ids+=("$id")
  cp -r "$root/tests/catalog/$s" "$work/catalog/$id"
  sed -i "s/^id = \"$s\"$/id = \"$id\"/" "$work/catalog/$id/manifest.toml"
  cp -r "$work/catalog/$id" "$work/previous/$id"
  sed -i 's/^version = "1.0-1"$/version = "0.9-1"/' "$work/previous/$id/manifest.toml"
done

set +e
TMPDIR="$work/tmp" "$bin" catalog smoke --all --catalog "$work/catalog" --previous "$work/previous" \
  --engine "$engine" --timeout-s 300 --json > "$work/report.json" 2> "$work/smoke.log"
status=$?
set -e
if ! jq -e . "$work/report.json" > /dev/null 2>&1; then
  echo "the smoke run gave no report (exit $status):"
  tail -n 20 "$work/smoke.log"
  exit 1
fi
echo "panier catalog smoke: ${#ids[@]} services, total $(jq -r .seconds "$work/report.json") s (exit $status)"
jq -r '.services[] | "  \(.service) \(.version): \(if .ok then "passed" else "FAILED" end) in \(.seconds) s",
  (.steps[] | "    \(.step | . + " " * (16 - length)) \(.result | . + " " * (8 - length)) \(.seconds) s")' \
  "$work/report.json"

#!/usr/bin/env bash
# Backup benchmark: Panier (driving restic) and plain Debian restic, side by side on the same
# generated 1 GiB data set of mixed files. Prints figures; not pass/fail.
#   first backup: wall time and throughput; re-backup with no change: wall time;
#   peak memory of the backup process (restic's max RSS).
# Needs: restic, the panier binary (PANIER_BIN or the workspace's debug build), GNU time.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
bin=${PANIER_BIN:-$target/release/panier}
[ -x "$bin" ] || bin=$target/debug/panier
work=${PANIER_BENCH_DIR:-/var/tmp/panier-bench-backup}
size_mib=${PANIER_BENCH_MIB:-1024}
rm -rf "$work/box" "$work/repo-restic" "$work/repo-panier"
mkdir -p "$work"
# The data set sits in the box state's `settings` directory, which every run saves, so the
# benchmark needs no container engine (services' volumes are saved through installed services).
data="$work/box/data/settings/bench"
mkdir -p "$data"

# The data set (kept between runs in $work/set): 40 % large random files, 30 % small random
# files (100 KiB), 30 % compressible text.
set_dir="$work/set"
if [ ! -f "$set_dir/.done-$size_mib" ]; then
  rm -rf "$set_dir"; mkdir -p "$set_dir/large" "$set_dir/small" "$set_dir/text"
  large=$((size_mib * 40 / 100 / 4)); small=$((size_mib * 30 * 10 / 100)); text=$((size_mib * 30 / 100 / 4))
  for i in 1 2 3 4; do head -c "${large}M" /dev/urandom > "$set_dir/large/f$i.bin"; done
  head -c "$((small * 100))K" /dev/urandom | split -b 100K -a 5 - "$set_dir/small/s"
  for i in 1 2 3 4; do head -c "${text}M" < <(yes "Ligne de texte $i pour la bibliothèque municipale, données de test.") > "$set_dir/text/t$i.txt"; done
  touch "$set_dir/.done-$size_mib"
fi
cp -a "$set_dir/." "$data/"
rm -f "$data"/.done-*
bytes=$(du -sb "$data" | cut -f1)
files=$(find "$data" -type f | wc -l)
echo "data set: $((bytes / 1048576)) MiB in $files files"
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true

now() { date +%s.%N; }
mibps() { echo "scale=1; $bytes / 1048576 / $1" | bc; }

# Plain restic.
export RESTIC_PASSWORD=bench-password
restic -r "$work/repo-restic" init -q >/dev/null
t0=$(now); /usr/bin/time -f "%M" -o "$work/rss1" restic -r "$work/repo-restic" --no-cache -q backup "$data" >/dev/null; t1=$(now)
r_first=$(echo "$t1 - $t0" | bc)
t0=$(now); /usr/bin/time -f "%M" -o "$work/rss2" restic -r "$work/repo-restic" --no-cache -q backup "$data" >/dev/null; t1=$(now)
r_again=$(echo "$t1 - $t0" | bc)
unset RESTIC_PASSWORD
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true

# Panier: a real agent on that data dir, a folder target, `panier backup run`.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sock="$work/box/panier.sock"
: > "$work/box/panier.toml"
PANIER_LOG_STDERR=1 "$bin" agent --config "$work/box/panier.toml" --data-dir "$work/box/data" --listen "127.0.0.1:$port" --socket "$sock" >"$work/box/agent.log" 2>&1 &
agent=$!
trap 'kill $agent 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
"$bin" backup target add bench --folder "$work/repo-panier" --socket "$sock" --json >/dev/null
t0=$(now); "$bin" backup run --socket "$sock" --json > "$work/run1.json"; t1=$(now)
p_first=$(echo "$t1 - $t0" | bc)
t0=$(now); "$bin" backup run --socket "$sock" --json > "$work/run2.json"; t1=$(now)
p_again=$(echo "$t1 - $t0" | bc)
kill $agent; wait $agent 2>/dev/null || true

printf '\n%-34s %12s %12s\n' "backup of $((bytes / 1048576)) MiB" "restic 0.14" "panier"
printf '%-34s %11.1fs %11.1fs\n' "first backup, wall" "$r_first" "$p_first"
printf '%-34s %10s/s %10s/s\n' "first backup, throughput (MiB)" "$(mibps "$r_first")" "$(mibps "$p_first")"
printf '%-34s %11.2fs %11.2fs\n' "re-backup, no change, wall" "$r_again" "$p_again"
printf '%-34s %9s MiB %8s MiB\n' "peak memory of the backup process" "$(( $(cat "$work/rss1") / 1024 ))" "$(( $(jq '.[0].peak_rss_kib' "$work/run1.json") / 1024 ))"
echo "(panier's figures include its box-state snapshot, the service hooks and forget --prune;"
echo " its re-backup is also a full run of those steps)"

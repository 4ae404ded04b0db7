#!/usr/bin/env bash
# Prints the URL of a running Docker Engine API socket, starting Debian's dockerd with its own
# data root if none answers. Usage: tools/start-engine.sh RUN_DIR DATA_DIR
set -euo pipefail
run_dir=$1
data_dir=$2
answers() { curl -fsS --max-time 2 --unix-socket "$1" http://engine/_ping >/dev/null 2>&1; }

for sock in /run/docker.sock /var/run/docker.sock "$run_dir/docker.sock"; do
  if [ -S "$sock" ] && answers "$sock"; then
    echo "unix://$sock"
    exit 0
  fi
done

mkdir -p "$run_dir" "$data_dir"
sock="$run_dir/docker.sock"
echo "panier: starting dockerd (data in $data_dir, log in $run_dir/dockerd.log)" >&2
# Started in / (a deleted checkout as its working directory breaks later container starts).
# The redirections are on the subshell so that nothing left in the background holds this
# script's standard output: callers read it with $(...), which waits for every writer.
(cd / && exec setsid dockerd --host "unix://$sock" --data-root "$data_dir" --exec-root "$run_dir/exec" \
  --pidfile "$run_dir/dockerd.pid" --log-driver journald) >"$run_dir/dockerd.log" 2>&1 </dev/null &
for _ in $(seq 1 60); do
  if answers "$sock"; then
    echo "unix://$sock"
    exit 0
  fi
  sleep 0.5
done
echo "panier: dockerd did not start; see $run_dir/dockerd.log" >&2
tail -n 20 "$run_dir/dockerd.log" >&2 || true
exit 1

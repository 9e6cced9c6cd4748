#!/usr/bin/env bash
# Stops the single-node Slurm cluster scripts/slurm/start.sh started in DIR
# and removes DIR.
set -uo pipefail
dir=${1:?usage: stop.sh DIR (as start.sh printed it)}
[ -f "$dir/slurm.conf" ] || { echo "$dir: not a cluster directory" >&2; exit 1; }
for pid in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
  [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null
done
sleep 0.5
rm -rf "$dir"

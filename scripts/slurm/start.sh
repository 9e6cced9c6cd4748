#!/usr/bin/env bash
# Starts a single-node Slurm cluster on this machine for the Slurm sweep tests:
# munged, slurmctld and slurmd, with their configuration and state in a fresh
# directory. Installs Debian's slurm-wlm and munge when they are missing.
# Needs root (the daemons run as root here, as on a test machine).
#
#   dir=$(bash scripts/slurm/start.sh)   # prints the cluster's directory
#   SLURM_CONF=$dir/slurm.conf sbatch ...
#   bash scripts/slurm/stop.sh "$dir"
#
# Configuration for a container without cgroups or systemd:
# ProctrackType=proctrack/linuxproc, TaskPlugin=task/none, MpiDefault=none;
# one partition `debug` holding this node, with the CPUs and memory slurmd sees.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "not root: a local Slurm cluster needs root to start its daemons" >&2
  exit 2
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "installing slurm-wlm and munge (a single-node Slurm cluster for the sweep tests)" >&2
  apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null 2>&1 || {
    echo "cannot install slurm-wlm and munge" >&2
    exit 2
  }
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/simple-nn-slurm.XXXXXX")
chmod 755 "$dir"
mkdir -p "$dir/ctld" "$dir/d" "$dir/munge"
chown munge:munge "$dir/munge"
chmod 711 "$dir/munge"

# munge: a key of our own (owned by munge, mode 0400), socket and pid file
# in the cluster's directory.
key="$dir/munge/munge.key"
head -c 1024 /dev/urandom >"$key"
chown munge:munge "$key"
chmod 0400 "$key"
runuser -u munge -- munged --key-file="$key" --socket="$dir/munge/socket" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
  --seed-file="$dir/munge/seed"

# Two free TCP ports, so that this cluster starts beside another one.
read -r ctld_port d_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
host=$(hostname -s)
node=$(slurmd -C | head -1)
cat >"$dir/slurm.conf" <<CONF
ClusterName=simplenn
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/d
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ReturnToService=2
KillWait=30
MinJobAge=600
$node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -c -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"

# Up when the node is idle.
for _ in $(seq 100); do
  if sinfo -h -o '%t' 2>/dev/null | grep -qx idle; then
    echo "$dir"
    exit 0
  fi
  sleep 0.2
done
echo "the local Slurm cluster did not come up; logs in $dir" >&2
sinfo >&2 || true
exit 1

#!/usr/bin/env bash
# A sweep through a real Slurm, on this machine: installs Debian's slurm-wlm if it is missing,
# starts munge and a single-node cluster (slurmctld + slurmd, as root, config in a temporary
# folder), runs the ignored test `a_sweep_through_slurm_gives_the_results_of_the_same_sweep_here`
# (each run an `srun` job step; results compared with the same sweep in one process), then
# stops the daemons. Needs root; a pre-release check, not part of `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v slurmctld > /dev/null; then
    apt-get install -y --no-install-recommends slurm-wlm
fi
work=$(mktemp -d)
host=$(hostname -s)
cpus=$(nproc)
mkdir -p /run/munge "$work/ctld" "$work/d"
chown munge:munge /run/munge 2>/dev/null || true
pgrep -x munged > /dev/null || /usr/sbin/munged --force
cat > "$work/slurm.conf" <<CONF
ClusterName=bertbench-check
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$work/ctld
SlurmdSpoolDir=$work/d
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=4000 State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"
stop() {
    kill "$(cat "$work/slurmd.pid" 2> /dev/null)" "$(cat "$work/slurmctld.pid" 2> /dev/null)" 2> /dev/null || true
}
trap stop EXIT
/usr/sbin/slurmctld
/usr/sbin/slurmd
for _ in $(seq 1 30); do
    sinfo -h -o %t 2> /dev/null | grep -q idle && break
    sleep 1
done
sinfo
cargo test --locked --test cli -- --ignored --exact a_sweep_through_slurm_gives_the_results_of_the_same_sweep_here

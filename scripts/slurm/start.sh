#!/usr/bin/env bash
# Start a real single-node SLURM (munged, a private MariaDB, slurmdbd, slurmctld, slurmd) for the cluster tests,
# on Debian/Ubuntu, as root, without systemd. Safe to run again: installs only missing packages, starts only the
# daemons that are not running, restarts the SLURM daemons when the generated slurm.conf changed.
#
# Environment:
#   SLURM_CI_DIR        state, spool, logs and the database (default ${TMPDIR:-/tmp}/ser-probe-slurm)
#   SLURM_CI_PARTITION  partition name (default debug)
#   SLURM_CI_DB_PORT    TCP port of the private MariaDB, on 127.0.0.1 only (default 13307)
#   SLURM_CI_CPUS       advertise this many CPUs instead of the real count (optional)
#
# Each obstacle met on container-like machines, and what this script does about it:
#   - no systemd: every daemon is started by hand and tracked by its pid file under $SLURM_CI_DIR/run;
#   - /run/munge is missing after a fresh boot of a container: created, owned by munge;
#   - the host name may not resolve to a reachable address: slurmctld and the node are pinned to 127.0.0.1;
#   - without accounting, `sacct` has nothing to say and submitit waits forever on a cancelled job: slurmdbd runs
#     on a private MariaDB instance (its own datadir, socket and port; the system's MariaDB is not touched);
#   - a requeued job waits cred_expire + 1 s before it can start again (120 s by default): cred_expire=10;
#   - no cgroup v2 delegation in containers: proctrack/linuxproc and task/none.
set -euo pipefail

DIR=${SLURM_CI_DIR:-${TMPDIR:-/tmp}/ser-probe-slurm}
PARTITION=${SLURM_CI_PARTITION:-debug}
DB_PORT=${SLURM_CI_DB_PORT:-13307}
RUN_DIR=$DIR/run LOG_DIR=$DIR/log DB_DIR=$DIR/mysql
NODE=$(hostname -s)
PACKAGES="munge slurmctld slurmd slurm-client slurmdbd mariadb-server"
export DEBIAN_FRONTEND=noninteractive

say() { echo "[slurm] $*" >&2; }
die() { say "error: $*"; exit 1; }
running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
retry() { # retry SECONDS COMMAND...: run COMMAND every 0.25 s until it succeeds or SECONDS pass
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || { say "gave up waiting for: $*"; return 1; }
    sleep 0.25
  done
}
terminate() { # terminate PIDFILE: SIGTERM, up to 20 s, then SIGKILL
  running "$1" || return 0
  local pid; pid=$(cat "$1"); kill "$pid"
  retry 20 sh -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
}

[ "$(id -u)" -eq 0 ] || die "needs root (it installs packages and starts system daemons)"
command -v dpkg-query >/dev/null && command -v apt-get >/dev/null || die "needs a Debian-based system (apt-get)"

# 1. packages
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  say "installing:$missing"
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $PACKAGES >"${TMPDIR:-/tmp}/ser-probe-slurm-apt.log" 2>&1 \
    || die "apt-get install failed; see ${TMPDIR:-/tmp}/ser-probe-slurm-apt.log"
fi
mkdir -p "$RUN_DIR" "$LOG_DIR" "$DIR/state" "$DIR/spool" /etc/slurm

# 2. munge (authentication between the daemons and the clients)
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge && chown munge:munge /run/munge
if ! (munge -n | unmunge) >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  retry 10 sh -c 'munge -n | unmunge' || die "munged does not answer"
fi

# 3. configuration: the node as `slurmd -C` sees it, 90% of its memory schedulable
memory=$(( $(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo) * 9 / 10 ))
if [ -n "${SLURM_CI_CPUS:-}" ]; then
  node_line="NodeName=$NODE CPUs=$SLURM_CI_CPUS RealMemory=$memory"
  overrides="SlurmdParameters=config_overrides"
else
  node_line=$(slurmd -C | head -n 1 | sed -E "s/RealMemory=[0-9]+/RealMemory=$memory/")
  overrides=""
fi
cat >"$RUN_DIR/slurm.conf" <<CONF
ClusterName=serprobe
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
# memory is scheduled too; a job without --mem gets 1 GB per CPU, not the whole node
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=300
MailProg=/bin/true
$overrides
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
if ! cmp -s "$RUN_DIR/slurm.conf" /etc/slurm/slurm.conf; then
  terminate "$RUN_DIR/slurmd.pid"
  terminate "$RUN_DIR/slurmctld.pid"
  cp "$RUN_DIR/slurm.conf" /etc/slurm/slurm.conf
fi
cat >/etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=serprobe_acct_db
LogFile=$LOG_DIR/slurmdbd.log
PidFile=$RUN_DIR/slurmdbd.pid
CONF
chmod 600 /etc/slurm/slurmdbd.conf

# 4. a private MariaDB for the accounting database
if [ ! -d "$DB_DIR/data/mysql" ]; then
  mkdir -p "$DB_DIR/data" && chown -R mysql:mysql "$DB_DIR"
  mariadb-install-db --no-defaults --datadir="$DB_DIR/data" --user=mysql --skip-test-db \
    --auth-root-authentication-method=socket >"$LOG_DIR/mariadb-install.log" 2>&1 \
    || die "mariadb-install-db failed; see $LOG_DIR/mariadb-install.log"
fi
if ! running "$DB_DIR/mysql.pid"; then
  setsid -f /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$DB_DIR/data" --socket="$DB_DIR/mysql.sock" \
    --pid-file="$DB_DIR/mysql.pid" --log-error="$LOG_DIR/mariadb.err" --bind-address=127.0.0.1 --port="$DB_PORT" \
    --skip-name-resolve --innodb-lock-wait-timeout=900 </dev/null >/dev/null 2>&1
  retry 60 mariadb-admin --no-defaults -S "$DB_DIR/mysql.sock" -uroot ping || die "MariaDB did not start; see $LOG_DIR/mariadb.err"
fi
mariadb --no-defaults -S "$DB_DIR/mysql.sock" -uroot -e \
  "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
   GRANT ALL ON serprobe_acct_db.* TO 'slurm'@'127.0.0.1';"

# 5. the SLURM daemons, in dependency order
running "$RUN_DIR/slurmdbd.pid" || slurmdbd
retry 60 sacctmgr -n show cluster || die "slurmdbd does not answer; see $LOG_DIR/slurmdbd.log"
running "$RUN_DIR/slurmctld.pid" || slurmctld
retry 60 scontrol ping || die "slurmctld does not answer; see $LOG_DIR/slurmctld.log"
running "$RUN_DIR/slurmd.pid" || slurmd
node_up() { sinfo -h -n "$NODE" -o %t | grep -Eq '^(idle|mix|alloc)'; }
if ! retry 30 node_up; then
  scontrol update nodename="$NODE" state=resume || true
  retry 30 node_up || die "node $NODE is not up; see $LOG_DIR/slurmd.log and \`sinfo -R\`"
fi

# 6. one real job end to end
timeout 60 srun -p "$PARTITION" -t 1 true || die "a test job did not run; see $LOG_DIR/slurmctld.log"
say "up: partition $PARTITION on $NODE; logs in $LOG_DIR; stop with $(dirname "$0")/stop.sh"
sinfo

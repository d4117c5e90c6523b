#!/usr/bin/env bash
# Stop the single-node SLURM started by start.sh: cancel what is left, then stop each daemon by its pid file
# (never by name). --purge also deletes job state, the accounting database and the logs.
set -euo pipefail
DIR=${SLURM_CI_DIR:-${TMPDIR:-/tmp}/ser-probe-slurm}
RUN_DIR=$DIR/run DB_DIR=$DIR/mysql

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
terminate() { # terminate PIDFILE: SIGTERM, up to 20 s, then SIGKILL
  running "$1" || return 0
  local pid; pid=$(cat "$1"); kill "$pid"
  for _ in $(seq 80); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
}

if running "$RUN_DIR/slurmctld.pid"; then
  squeue -h -o %A | xargs -r scancel 2>/dev/null || true   # no slurmstepd left behind
  for _ in $(seq 40); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.25; done
fi
terminate "$RUN_DIR/slurmd.pid" & terminate "$RUN_DIR/slurmctld.pid" & wait
terminate "$RUN_DIR/slurmdbd.pid"   # after slurmctld, which hands its last accounting records to it
terminate "$DB_DIR/mysql.pid"
if [ "${1:-}" = "--purge" ]; then
  terminate /run/munge/munged.pid
  rm -rf "$DIR"
fi
echo "[slurm] stopped" >&2

#!/usr/bin/env bash
# health-check.sh [--json]: on a worker, every part of it in one report: each role's heartbeat,
# the local Valkey, the database (and the journal of writes waiting for it), the webhook's and
# the dashboard's /healthz, the systemd units, stored broker tokens, and whether this worker is
# the active or the standby one. Exit status 0 when all pass, 1 otherwise.
#
# The report is `yquant checkup` (src/yquant/entrypoints/commands/checkup.py); this script
# finds yquant and the worker's settings the way the systemd units do.
#
# Environment:
#   YQUANT_BIN       /opt/yquant/current/.venv/bin/yquant, else `yquant` on PATH
#   YQUANT_ENV_FILE  /etc/yquant/yquant.env   (read when present)
#   YQUANT_CONFIG    /etc/yquant/yquant.toml  (used when present)
set -euo pipefail

case "${1:-}" in
  "" | --json) ;;
  *)
    echo "usage: $0 [--json]" >&2
    exit 2
    ;;
esac

config="${YQUANT_CONFIG:-/etc/yquant/yquant.toml}"
# shellcheck source=scripts/yquant-env.sh
. "$(dirname "$0")/yquant-env.sh"
yquant_env_load health-check
# The units run with this data directory; the checkup reads the same journals.
export YQUANT__DATA_DIR="${YQUANT__DATA_DIR:-/var/lib/yquant}"

args=()
[ -r "$config" ] && args+=(--config "$config")
# The file is passed above when present; yquant itself refuses a YQUANT_CONFIG naming no file.
unset YQUANT_CONFIG
exec "$yquant_bin" "${args[@]}" checkup "$@"

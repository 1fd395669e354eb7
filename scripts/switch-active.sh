#!/usr/bin/env bash
# switch-active.sh blue|green: on yq-data, make that worker the active one without dropping a
# request, and record it in the database. Prints the state before and after.
#
#   1. refuses unless the target answers 200 on /healthz (asked from here, at the address the
#      HAProxy config names), HAProxy's own check sees it UP, and the database answers
#   2. writes the new config beside the old one (only the `backup` flags move); `haproxy -c`
#   3. runtime API: the old worker is drained, new requests go to the target at once
#   4. installs the new config atomically (old one kept as <cfg>.prev), seamless reload, and
#      waits until the new HAProxy process runs with the target active
#   5. `yquant role set`: the target is active in the database (epoch + 1)
#   Any failing step in 3-5 undoes the steps before it. The procedure is `yquant deploy switch`
#   (src/yquant/services/switching.py); this script finds yquant, its settings and takes a lock.
#
# Environment (defaults are the data node's):
#   YQ_HAPROXY_CFG     /etc/haproxy/haproxy.cfg
#   YQ_HAPROXY_SOCKET  /run/haproxy/admin.sock            (stats socket ... level admin)
#   YQ_HAPROXY_RELOAD  systemctl reload haproxy           (Debian's unit: haproxy -c, then USR2)
#   YQ_HAPROXY_BIN     haproxy
#   YQUANT_BIN         /opt/yquant/current/.venv/bin/yquant, else `yquant` on PATH
#   YQUANT_ENV_FILE    /etc/yquant/yquant.env             (database URL; read when present)
#   YQ_SWITCH_LOCK     /run/lock/yquant-switch-active.lock
#   YQ_ACTOR           who is switching (default: $SUDO_USER, else the current user)
set -euo pipefail

usage() {
  echo "usage: $0 blue|green" >&2
  exit 2
}
[ $# -eq 1 ] || usage
target="$1"
case "$target" in blue | green) ;; *) usage ;; esac

cfg="${YQ_HAPROXY_CFG:-/etc/haproxy/haproxy.cfg}"
socket="${YQ_HAPROXY_SOCKET:-/run/haproxy/admin.sock}"
reload_cmd="${YQ_HAPROXY_RELOAD:-systemctl reload haproxy}"
haproxy_bin="${YQ_HAPROXY_BIN:-haproxy}"
lock="${YQ_SWITCH_LOCK:-/run/lock/yquant-switch-active.lock}"
actor="${YQ_ACTOR:-${SUDO_USER:-$(id -un)}}"

# shellcheck source=scripts/yquant-env.sh
. "$(dirname "$0")/yquant-env.sh"
yquant_env_load switch-active
command -v "$haproxy_bin" >/dev/null || {
  echo "switch-active: $haproxy_bin not found (set YQ_HAPROXY_BIN)" >&2
  exit 1
}

# One switch at a time.
exec 9>"$lock"
flock -n 9 || {
  echo "switch-active: another switch is running ($lock)" >&2
  exit 1
}

exec "$yquant_bin" deploy switch "$target" \
  --haproxy-cfg "$cfg" \
  --socket "$socket" \
  --reload-cmd "$reload_cmd" \
  --haproxy-bin "$haproxy_bin" \
  --actor "$actor"

# Sourced by the operator scripts: finds the yquant command and loads the node's environment.
#   YQUANT_BIN       /opt/yquant/current/.venv/bin/yquant, else `yquant` on PATH
#   YQUANT_ENV_FILE  /etc/yquant/yquant.env (database URL and secrets; read when present)
# Sets yquant_bin; exits 1 with "<caller>: yquant not found" when there is none.

yquant_env_load() {
  local caller="$1"
  if [ -n "${YQUANT_BIN:-}" ]; then
    yquant_bin="$YQUANT_BIN"
  elif [ -x /opt/yquant/current/.venv/bin/yquant ]; then
    yquant_bin=/opt/yquant/current/.venv/bin/yquant
  else
    yquant_bin="$(command -v yquant)" || {
      echo "$caller: yquant not found (set YQUANT_BIN)" >&2
      exit 1
    }
  fi
  local env_file="${YQUANT_ENV_FILE:-/etc/yquant/yquant.env}"
  if [ -r "$env_file" ]; then
    set -a
    # shellcheck disable=SC1090
    . "$env_file"
    set +a
  fi
}

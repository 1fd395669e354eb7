#!/usr/bin/env bash
# certbot deploy hook for yq-data: builds HAProxy's combined PEM (full chain, then private key)
# atomically and reloads HAProxy, once for each certificate certbot issued or renewed.
#
# Install (scripts/setup.sh does it):
#   install -m 0755 certbot-deploy-hook.sh /etc/letsencrypt/renewal-hooks/deploy/yquant-haproxy.sh
# certbot sets RENEWED_LINEAGE (/etc/letsencrypt/live/<name>) and RENEWED_DOMAINS.
#
# Environment (defaults are the data node's):
#   YQ_HAPROXY_CERTS_DIR  /etc/haproxy/certs     the PEM is <dir>/<lineage name>.pem
#   YQ_HAPROXY_CFG        /etc/haproxy/haproxy.cfg
#   YQ_HAPROXY_BIN        haproxy
#   YQ_HAPROXY_RELOAD     systemctl reload haproxy
set -euo pipefail

lineage="${RENEWED_LINEAGE:?certbot sets RENEWED_LINEAGE}"
certs_dir="${YQ_HAPROXY_CERTS_DIR:-/etc/haproxy/certs}"
cfg="${YQ_HAPROXY_CFG:-/etc/haproxy/haproxy.cfg}"
haproxy_bin="${YQ_HAPROXY_BIN:-haproxy}"
reload_cmd="${YQ_HAPROXY_RELOAD:-systemctl reload haproxy}"
name="$(basename "$lineage")"
target="$certs_dir/$name.pem"

install -d -m 0700 "$certs_dir"
umask 077
# A temporary file in the same directory, so that the final rename is atomic: HAProxy never
# reads a half-written PEM, whenever it (re)starts.
tmp="$(mktemp "$certs_dir/.$name.pem.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
cat "$lineage/fullchain.pem" "$lineage/privkey.pem" >"$tmp"

# The certificate and the key must belong together, or HAProxy would refuse to start later.
cert_pub="$(openssl x509 -in "$tmp" -noout -pubkey)"
key_pub="$(openssl pkey -in "$lineage/privkey.pem" -pubout)"
if [ "$cert_pub" != "$key_pub" ]; then
  echo "yquant-haproxy hook: $lineage: the private key does not match the certificate" >&2
  exit 1
fi
chmod 0600 "$tmp"
old="$(mktemp "$certs_dir/.$name.pem.old.XXXXXX")"
if [ -f "$target" ]; then cp -p "$target" "$old"; fi
mv -f "$tmp" "$target"
trap 'rm -f "$old"' EXIT

# Validate the whole configuration with the new file in place, and put the old one back if it
# fails: the running HAProxy keeps serving either way.
if ! "$haproxy_bin" -c -q -f "$cfg"; then
  if [ -s "$old" ]; then mv -f "$old" "$target"; fi
  echo "yquant-haproxy hook: haproxy -c failed with the new certificate; kept the old one" >&2
  exit 1
fi
bash -c "$reload_cmd"
echo "yquant-haproxy hook: $target updated for ${RENEWED_DOMAINS:-$name}; HAProxy reloaded"

#!/bin/sh
# The container's HEALTHCHECK: GET /healthz on the port berthd listens on, from inside
# the container. It reads the same BERTH_* variables as berthd, so a changed
# BERTH_LISTEN or plain HTTP needs no change here.
set -eu
listen=${BERTH_LISTEN:-0.0.0.0:5000}
port=${listen##*:}
host=${listen%:*}
case $host in
""|0.0.0.0|"[::]"|"*") host=127.0.0.1 ;;
esac
case ${BERTH_INSECURE_HTTP:-0} in
1|true|yes|on) exec curl -fsS --max-time 2 -o /dev/null "http://$host:$port/healthz" ;;
esac
ca=${BERTH_DATA:-/var/lib/berth}/tls/ca.crt
if [ -z "${BERTH_TLS_CERT:-}" ] && [ -r "$ca" ]; then
        exec curl -fsS --max-time 2 -o /dev/null --cacert "$ca" "https://$host:$port/healthz"
fi
# an operator's own certificate may not name this address: liveness only, no trust decision
exec curl -fsS --max-time 2 -o /dev/null --insecure "https://$host:$port/healthz"

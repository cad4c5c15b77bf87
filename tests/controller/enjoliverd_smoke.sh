#!/usr/bin/env bash
# Smoke test of enjoliverd against real etcd processes:
#   flags and exit codes; local etcd mode (healthz, 404/405, etcd crash ->
#   503 -> supervised restart -> 200, SIGTERM/SIGINT exit 0 and etcd stopped,
#   restart on the same data dir); external etcd mode (etcd-harness; a frozen
#   etcd gives 503 within the probe timeout); HTTP port taken -> exit 1 with
#   the local etcd stopped; local etcd port taken -> exit 1; missing etcd
#   binary -> exit 1.
# usage: enjoliverd_smoke.sh ENJOLIVERD ETCD_HARNESS
set -euo pipefail

ENJ=${1:?usage: $0 ENJOLIVERD ETCD_HARNESS}
HARNESS=${2:?usage: $0 ENJOLIVERD ETCD_HARNESS}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/enjoliverd-smoke-XXXXXX")
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    for f in "$WORK"/*.log; do
        [ -f "$f" ] || continue
        echo "----- $f (tail) -----" >&2
        tail -n 30 "$f" >&2
    done
    exit 1
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# http_code URL -> prints the status (000 when nothing answers); body in $WORK/body
http_code() {
    curl -s -m 5 -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$@" || true
}

# wait_code WANT SECONDS URL
wait_code() {
    local want=$1 secs=$2 url=$3 code=000
    local deadline=$((SECONDS + secs))
    while [ $SECONDS -lt $deadline ]; do
        code=$(http_code "$url")
        [ "$code" = "$want" ] && return 0
        sleep 0.2
    done
    fail "$url: wanted $want within ${secs}s, last answer $code"
}

# wait_exit PID SECONDS -> sets EXIT_CODE
wait_exit() {
    local pid=$1 secs=$2
    local deadline=$((SECONDS + secs))
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || fail "pid $pid still running after ${secs}s"
        sleep 0.1
    done
    EXIT_CODE=0
    wait "$pid" || EXIT_CODE=$?
}

# wait_log FILE REGEX SECONDS
wait_log() {
    local deadline=$((SECONDS + $3))
    until grep -Eq "$2" "$1" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || fail "no '$2' in $1 after $3s"
        sleep 0.1
    done
}

http_port_of() { # LOG -> the port enjoliverd listens on
    wait_log "$1" 'msg="http: listening"' 20
    sed -n 's/.*msg="http: listening".* port=\([0-9]*\).*/\1/p' "$1" | head -n 1
}

etcd_pid_of() { # LOG -> pid of the last local etcd started
    sed -n 's/.*msg="local etcd started" pid=\([0-9]*\).*/\1/p' "$1" | tail -n 1
}

echo "== flags"
"$ENJ" --help >"$WORK/help.out" || fail "--help exit $?"
grep -q -- '--etcd-endpoints' "$WORK/help.out" || fail "--help does not explain --etcd-endpoints"
set +e
"$ENJ" --log-level loud 2>"$WORK/err.out"; rc=$?
set -e
[ $rc -eq 2 ] || fail "bad --log-level: exit $rc, wanted 2"
grep -q -- '--log-level' "$WORK/err.out" || fail "error does not name the flag"
set +e
"$ENJ" --no-such-flag 2>/dev/null; rc=$?
set -e
[ $rc -eq 2 ] || fail "unknown flag: exit $rc, wanted 2"

echo "== local etcd: start, healthz"
CP=$(free_port); PP=$(free_port)
while [ "$PP" = "$CP" ]; do PP=$(free_port); done
DATA="$WORK/var/etcd"
"$ENJ" --data-dir "$DATA" --local-etcd-client-port "$CP" --local-etcd-peer-port "$PP" \
    --listen-http 127.0.0.1:0 --listen-grpc 127.0.0.1:0 --log-level debug 2>"$WORK/enj1.log" &
ENJ1=$!; PIDS+=("$ENJ1")
HP=$(http_port_of "$WORK/enj1.log")
URL="http://127.0.0.1:$HP"
wait_code 200 30 "$URL/healthz"
grep -q '"global": true' "$WORK/body" || fail "healthz body: $(cat "$WORK/body")"
grep -q '"etcd": true' "$WORK/body" || fail "healthz body: $(cat "$WORK/body")"
grep -qi '^Access-Control-Allow-Origin: \*' "$WORK/headers" || fail "no CORS header"
grep -qi '^Content-Type: application/json' "$WORK/headers" || fail "no JSON content type"
[ -d "$DATA/member" ] || fail "no etcd data in $DATA"
[ -s "$DATA.log" ] || fail "no etcd log at $DATA.log"

echo "== 404 and 405 with JSON bodies"
[ "$(http_code "$URL/nope")" = 404 ] || fail "unknown route not 404"
grep -q '"error"' "$WORK/body" || fail "404 without a JSON error"
[ "$(http_code -X POST "$URL/healthz")" = 405 ] || fail "POST /healthz not 405"
grep -q '"error"' "$WORK/body" || fail "405 without a JSON error"

echo "== concurrent probes"
for _ in $(seq 1 20); do
    curl -s -m 5 -o /dev/null -w '%{http_code}\n' "$URL/healthz" &
done >"$WORK/codes.out"
wait_all_curl() { local j; for j in $(jobs -p); do [ "$j" = "$ENJ1" ] || wait "$j" || true; done; }
wait_all_curl
[ "$(grep -c '^200$' "$WORK/codes.out")" = 20 ] || fail "concurrent healthz: $(sort "$WORK/codes.out" | uniq -c)"

echo "== etcd crash: 503, then supervised restart, 200"
E1=$(etcd_pid_of "$WORK/enj1.log")
{ [ -n "$E1" ] && kill -0 "$E1"; } || fail "no local etcd pid"
kill -KILL "$E1"
wait_code 503 15 "$URL/healthz"
grep -q '"global": false' "$WORK/body" || fail "503 body: $(cat "$WORK/body")"
wait_log "$WORK/enj1.log" 'msg="restarting the local etcd"' 10
wait_code 200 30 "$URL/healthz"
E2=$(etcd_pid_of "$WORK/enj1.log")
[ "$E2" != "$E1" ] || fail "etcd was not restarted"

echo "== SIGTERM: exit 0, etcd stopped"
kill -TERM "$ENJ1"
wait_exit "$ENJ1" 20
[ "$EXIT_CODE" = 0 ] || fail "enjoliverd exit $EXIT_CODE after SIGTERM"
! kill -0 "$E2" 2>/dev/null || fail "local etcd $E2 still runs after enjoliverd exited"
grep -q 'msg="local etcd stopped"' "$WORK/enj1.log" || fail "etcd stop not logged"

echo "== restart on the same data dir, SIGINT: exit 0"
"$ENJ" --data-dir "$DATA" --local-etcd-client-port "$CP" --local-etcd-peer-port "$PP" \
    --listen-http 127.0.0.1:0 --listen-grpc 127.0.0.1:0 2>"$WORK/enj2.log" &
ENJ2=$!; PIDS+=("$ENJ2")
HP2=$(http_port_of "$WORK/enj2.log")
wait_code 200 30 "http://127.0.0.1:$HP2/healthz"
E3=$(etcd_pid_of "$WORK/enj2.log")

echo "== HTTP port taken: exit 1, its local etcd stopped"
CP2=$(free_port); PP2=$(free_port)
while [ "$PP2" = "$CP2" ]; do PP2=$(free_port); done
set +e
timeout 30 "$ENJ" --data-dir "$WORK/var2/etcd" --local-etcd-client-port "$CP2" \
    --local-etcd-peer-port "$PP2" --listen-http "127.0.0.1:$HP2" --listen-grpc 127.0.0.1:0 2>"$WORK/enj3.log"
rc=$?
set -e
[ $rc -eq 1 ] || fail "HTTP port in use: exit $rc, wanted 1"
E4=$(etcd_pid_of "$WORK/enj3.log")
[ -z "$E4" ] || ! kill -0 "$E4" 2>/dev/null || fail "etcd $E4 of the failed enjoliverd still runs"

kill -INT "$ENJ2"
wait_exit "$ENJ2" 20
[ "$EXIT_CODE" = 0 ] || fail "enjoliverd exit $EXIT_CODE after SIGINT"
! kill -0 "$E3" 2>/dev/null || fail "local etcd $E3 still runs after SIGINT"

echo "== missing etcd binary: exit 1"
set +e
timeout 30 "$ENJ" --data-dir "$WORK/var3/etcd" --etcd-bin /nonexistent/etcd \
    --local-etcd-client-port "$CP2" --local-etcd-peer-port "$PP2" \
    --listen-http 127.0.0.1:0 --listen-grpc 127.0.0.1:0 2>"$WORK/enj4.log"
rc=$?
set -e
[ $rc -eq 1 ] || fail "missing etcd binary: exit $rc, wanted 1"
grep -q 'etcd-bin' "$WORK/enj4.log" || fail "missing binary error does not say what to do"

echo "== external etcd (etcd-harness)"
coproc HARN { exec "$HARNESS"; }
HPID=$HARN_PID; PIDS+=("$HPID")
ENDPOINT=""; EPID=""
while read -r -t 30 line <&"${HARN[0]}"; do
    case $line in
    ENDPOINT=*) ENDPOINT=${line#ENDPOINT=} ;;
    PID=*) EPID=${line#PID=} ;;
    READY=1) break ;;
    esac
done
{ [ -n "$ENDPOINT" ] && [ -n "$EPID" ]; } || fail "etcd-harness did not start"
echo "== local etcd port taken (by the harness's etcd): exit 1, that etcd untouched"
set +e
timeout 30 "$ENJ" --data-dir "$WORK/var4/etcd" --local-etcd-client-port "${ENDPOINT##*:}" \
    --local-etcd-peer-port "$PP2" --listen-http 127.0.0.1:0 --listen-grpc 127.0.0.1:0 2>"$WORK/enj6.log"
rc=$?
set -e
[ $rc -eq 1 ] || fail "local etcd port in use: exit $rc, wanted 1"
grep -q 'already in use' "$WORK/enj6.log" || fail "port conflict not explained"
kill -0 "$EPID" || fail "the harness's etcd died"

"$ENJ" --etcd-endpoints "http://$ENDPOINT" --listen-http 127.0.0.1:0 --listen-grpc 127.0.0.1:0 2>"$WORK/enj5.log" &
ENJ5=$!; PIDS+=("$ENJ5")
HP5=$(http_port_of "$WORK/enj5.log")
URL5="http://127.0.0.1:$HP5"
wait_code 200 20 "$URL5/healthz"
! grep -q 'local etcd started' "$WORK/enj5.log" || fail "started a local etcd despite --etcd-endpoints"
kill -STOP "$EPID"
wait_code 503 15 "$URL5/healthz"
kill -CONT "$EPID"
wait_code 200 20 "$URL5/healthz"
kill -TERM "$ENJ5"
wait_exit "$ENJ5" 20
[ "$EXIT_CODE" = 0 ] || fail "enjoliverd (external etcd) exit $EXIT_CODE"
kill -0 "$EPID" || fail "enjoliverd stopped an etcd it does not own"
kill -TERM "$HPID"
wait_exit "$HPID" 20
[ "$EXIT_CODE" = 0 ] || fail "etcd-harness exit $EXIT_CODE"

echo "enjoliverd_smoke: ok"

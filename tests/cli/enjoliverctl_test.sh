#!/usr/bin/env bash
# enjoliverctl end to end: a real etcd (etcd-harness), a real enjoliverd
# serving HTTP and gRPC with an admin token, machines posted over HTTP from
# the spec's discovery fixtures; then every command of enjoliverctl, its
# output (table, JSON, YAML), exit codes (0/1/2), help texts, the admin
# token, watches with --count and SIGTERM, and backups with and without a
# download directory.
# usage: enjoliverctl_test.sh ENJOLIVERCTL ENJOLIVERD ETCD_HARNESS FIXTURES_DIR
set -euo pipefail

CTL=${1:?usage: $0 ENJOLIVERCTL ENJOLIVERD ETCD_HARNESS FIXTURES_DIR}
ENJ=${2:?usage}
HARNESS=${3:?usage}
FIX=${4:?usage}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/enjoliverctl-test-XXXXXX")
export WORK
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
    for f in "$WORK"/out "$WORK"/err "$WORK"/*.log; do
        [ -f "$f" ] || continue
        echo "----- $f (tail) -----" >&2
        tail -n 30 "$f" >&2
    done
    exit 1
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# fixture FILE EXPR: a value of a discovery fixture, e.g. boot-info's MAC.
fixture() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$FIX/$1" "$2"
}

# The controller schedules machines itself once enough are discovered; the
# control plane is made to need 31 so that what is scheduled here is only
# what the test schedules.
export ENJOLIVER_ETCD_MEMBER_KUBERNETES_CONTROL_PLANE_EXPECTED_NB=31
unset ENJOLIVER_SERVER ENJOLIVER_TOKEN_FILE

for i in 1 2 3 4; do
    f=discovery-m0$i.json
    [ -f "$FIX/$f" ] || fail "no fixture $FIX/$f"
    declare "MAC$i=$(fixture $f 'd["boot-info"]["mac"]')"
    declare "UUID$i=$(fixture $f 'd["boot-info"]["uuid"]')"
    declare "IP$i=$(fixture $f '[i["ipv4"] for i in d["interfaces"] if i["mac"]][0]')"
done
export MAC1 MAC2 MAC3 MAC4 UUID1 UUID2 UUID3 UUID4 IP1 IP2 IP3
# The test needs distinct machines: the fixtures repeat some IPs, not these.
[ "$(printf '%s\n' "$IP1" "$IP2" "$IP3" "$IP4" | sort -u | wc -l)" = 4 ] || fail "fixture IPs repeat"

# ---- helpers running enjoliverctl -----------------------------------------

# run ARGS...: enjoliverctl against the test's server; stdout in $WORK/out,
# stderr in $WORK/err, exit code in RC.
run() {
    set +e
    "$CTL" --server "127.0.0.1:$GP" --timeout 10 "$@" >"$WORK/out" 2>"$WORK/err"
    RC=$?
    set -e
}

# expect RC ARGS...: run, and the exit code must be RC.
expect() {
    local want=$1
    shift
    run "$@"
    [ "$RC" = "$want" ] || fail "enjoliverctl $*: exit $RC, wanted $want"
}

# out_has REGEX / err_has REGEX
out_has() { grep -Eq -- "$1" "$WORK/out" || fail "stdout has no '$1'"; }
err_has() { grep -Eq -- "$1" "$WORK/err" || fail "stderr has no '$1'"; }

# jcheck PYTHON: asserts about the JSON document on stdout (as d).
jcheck() {
    python3 - "$WORK/out" "$1" <<'EOF' || fail "JSON check failed: $1"
import json, os, sys
d = json.load(open(sys.argv[1]))
env = os.environ
exec(sys.argv[2])
EOF
}

# Tables: a header in capitals, no trailing spaces, each column starting at
# the same offset on every line (checked on the given header names).
table_check() { # HEADER-REGEX COLUMN...
    local head=$1
    shift
    head -n 1 "$WORK/out" | grep -Eq "^$head\$" || fail "table header: $(head -n 1 "$WORK/out")"
    ! grep -q ' $' "$WORK/out" || fail "trailing spaces in the table"
    python3 - "$WORK/out" "$@" <<'EOF' || fail "columns not aligned"
import sys
lines = open(sys.argv[1]).read().split("\n\n")[0].splitlines() # the table ends at a blank line
head = lines[0]
for col in sys.argv[2:]:
    at = head.index(col)
    for l in lines[1:]:
        # a column starts after two spaces, at the header's offset
        assert l[at - 2:at] == "  " and l[at] != " ", (col, l)
EOF
}

rows() { tail -n +2 "$WORK/out" | grep -c . || true; }

# wait_until SECONDS CMD...: polls CMD until it succeeds.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ $SECONDS -lt $deadline ] || fail "timed out waiting for: $*"
        sleep 0.2
    done
}

# wait_exit PID SECONDS -> EXIT_CODE
wait_exit() {
    local pid=$1 deadline=$((SECONDS + $2))
    while kill -0 "$pid" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || fail "pid $pid still running after $2s"
        sleep 0.1
    done
    EXIT_CODE=0
    wait "$pid" || EXIT_CODE=$?
}

lines_in() { [ "$(grep -c . "$1" 2>/dev/null || true)" -ge "$2" ]; }

post_discovery() { # FIXTURE
    local code
    code=$(curl -s -m 10 -o "$WORK/body" -w '%{http_code}' -X POST \
        -H 'Content-Type: application/json' --data-binary "@$FIX/$1" "$URL/discovery")
    [ "$code" = 200 ] || fail "POST /discovery $1: $code $(cat "$WORK/body")"
}

# ---- start etcd and enjoliverd --------------------------------------------

echo "== start etcd and enjoliverd"
coproc HARN { exec "$HARNESS"; }
PIDS+=("$HARN_PID")
ENDPOINT=""
while read -r -t 30 line <&"${HARN[0]}"; do
    case $line in
    ENDPOINT=*) ENDPOINT=${line#ENDPOINT=} ;;
    READY=1) break ;;
    esac
done
[ -n "$ENDPOINT" ] || fail "etcd-harness did not start"

TOKEN=enjoliverctl-test-token-0123456789
printf '%s\n' "$TOKEN" >"$WORK/token"
# enjoliverctl strips trailing whitespace, as enjoliverd does.
printf '%s  \t\n' "$TOKEN" >"$WORK/token-spaces"
printf 'not-the-admin-token-0123456789\n' >"$WORK/token-wrong"
HP=$(free_port)
GP=$(free_port)
while [ "$GP" = "$HP" ]; do GP=$(free_port); done
URL="http://127.0.0.1:$HP"
mkdir "$WORK/matchbox" # the sync's output; only its existence matters here
"$ENJ" --etcd-endpoints "http://$ENDPOINT" --listen-http "127.0.0.1:$HP" \
    --listen-grpc "127.0.0.1:$GP" --admin-token-file "$WORK/token" \
    --backup-dir "$WORK/backups" --matchbox-path "$WORK/matchbox" --name cli-test 2>"$WORK/enjoliverd.log" &
ENJ_PID=$!
PIDS+=("$ENJ_PID")
healthz() { [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ]; }
wait_until 30 healthz
grpc_up() { run health; [ "$RC" = 0 ]; }
wait_until 20 grpc_up

for i in 1 2 3; do post_discovery discovery-m0$i.json; done

# ---- help and usage errors --------------------------------------------------

echo "== help"
expect 0 --help
out_has '^Usage: enjoliverctl'
for flag in --server --token-file --tls-ca --output --timeout --help; do out_has -- "$flag"; done
for c in get watch schedule rolling backup health version; do out_has "^  $c "; done
expect 0 help
out_has '^Usage: enjoliverctl'
expect 0 help rolling
out_has 'rolling enable MAC'
expect 0 -h
out_has '^Usage: enjoliverctl'
declare -A FLAGS=(
    [get]="--role --state --unscheduled --machine --limit"
    [watch]="--mac --machine --resume --count --limit"
    [schedule]="ROLE"
    [rolling]="--strategy"
    [backup]="DIR"
    [health]="Health.Check"
    [version]="version"
)
for c in "${!FLAGS[@]}"; do
    for h in --help -h; do
        expect 0 "$c" "$h"
        out_has "^Usage: enjoliverctl $c"
        for flag in ${FLAGS[$c]} --server --token-file --output --timeout; do out_has -- "$flag"; done
        [ ! -s "$WORK/err" ] || fail "$c $h wrote to stderr"
    done
done
expect 0 get machines --help
out_has '^Usage: enjoliverctl get'

echo "== bash completion"
COMPLETION="$(dirname "$0")/../../cli/enjoliverctl.bash"
complete_words() { # WORDS... -> the candidates for the last word
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _enjoliverctl
             echo "${COMPREPLY[*]}"' _ "$COMPLETION" enjoliverctl "$@"
}
[ "$(complete_words "")" = "get watch schedule rolling backup health version help" ] ||
    fail "completion of commands: $(complete_words "")"
[ "$(complete_words -o "")" = "table json yaml" ] || fail "completion of -o"
[ "$(complete_words get machines --role kubernetes-n)" = kubernetes-node ] || fail "completion of --role"
[ "$(complete_words rolling enable m --strategy "")" = "kexec reboot poweroff" ] ||
    fail "completion of --strategy"
[ "$(complete_words get "")" = "machines machine schedules rolling slots events" ] ||
    fail "completion of get"

echo "== usage errors: exit 2"
usage_error() { # ARGS... -> exit 2 and a message on stderr
    expect 2 "$@"
    [ -s "$WORK/err" ] || fail "enjoliverctl $*: no message"
    [ ! -s "$WORK/out" ] || fail "enjoliverctl $*: wrote to stdout"
}
usage_error
usage_error frobnicate
err_has "unknown command 'frobnicate'"
usage_error get
usage_error get frobs
usage_error get machines --bogus
err_has "unknown flag '--bogus'"
usage_error -o xml get machines
err_has "xml"
usage_error get machines -o xml
usage_error get machine
usage_error get machine a b
usage_error get schedules worker
usage_error get schedules --limit 3
usage_error get events --limit 0
usage_error get events --limit many
usage_error get machines --role worker
usage_error schedule "$MAC1"
usage_error schedule "$MAC1" etcd-member,worker
err_has "unknown role 'worker'"
usage_error rolling enable
usage_error rolling toggle "$MAC1"
usage_error rolling enable "$MAC1" --strategy halt
usage_error watch
usage_error watch nodes
usage_error watch machines --count 0
usage_error watch machines --resume x
usage_error --timeout 0 health
usage_error --server
usage_error backup a b
usage_error health extra
usage_error help nope

echo "== unreachable server: exit 1"
DEAD=$(free_port)
set +e
"$CTL" --server "127.0.0.1:$DEAD" --timeout 5 get machines >"$WORK/out" 2>"$WORK/err"
RC=$?
set -e
[ "$RC" = 1 ] || fail "unreachable server: exit $RC"
err_has '^enjoliverctl: list machines: UNAVAILABLE: '

# ---- health and version -------------------------------------------------------

echo "== health, version"
expect 0 health
out_has '^healthy: +yes$'
out_has '^etcd: +ok$'
out_has '^replica: +cli-test$'
expect 0 health -o json
jcheck 'assert d["healthy"] is True and d["etcd"] is True, d
assert d["replica"] == "cli-test", d
assert isinstance(d["revision"], int) and d["revision"] > 0, d
assert d["leader"] in ("", "cli-test"), d'
SERVER_VERSION=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$WORK/out")
[ -n "$SERVER_VERSION" ] || fail "the server reports no version"
expect 0 health -o yaml
out_has '^healthy: true$'
out_has '^replica: cli-test$'
expect 0 version
CLIENT_VERSION=$(sed -n 's/^enjoliverctl \(.*\)$/\1/p' "$WORK/out")
[ -n "$CLIENT_VERSION" ] || fail "version: no client line"
out_has "^enjoliverd $SERVER_VERSION \\(127.0.0.1:$GP\\)\$"
[ "$CLIENT_VERSION" = "$SERVER_VERSION" ] || fail "client $CLIENT_VERSION, server $SERVER_VERSION: one build, one version"
expect 0 version -o json
jcheck 'assert d == {"client": d["client"], "server": d["client"]}, d'
set +e
"$CTL" --server "127.0.0.1:$DEAD" --timeout 5 version >"$WORK/out" 2>"$WORK/err"
RC=$?
set -e
[ "$RC" = 0 ] || fail "version without a server: exit $RC"
out_has '^enjoliverctl '
! grep -q '^enjoliverd' "$WORK/out" || fail "version printed a server version without a server"
err_has 'UNAVAILABLE'
# The environment names the server when --server does not.
set +e
ENJOLIVER_SERVER="127.0.0.1:$GP" "$CTL" health >"$WORK/out" 2>"$WORK/err"
RC=$?
set -e
[ "$RC" = 0 ] || fail "ENJOLIVER_SERVER: exit $RC"

# ---- get machines / machine -----------------------------------------------------

echo "== get machines"
expect 0 get machines
table_check 'UUID +BOOT MAC +IPV4 +ROLES +STATE +ROLLING +SLOT' 'BOOT MAC' IPV4 ROLES STATE ROLLING SLOT
[ "$(rows)" = 3 ] || fail "get machines: $(rows) rows, wanted 3"
for i in 1 2 3; do
    uuid=UUID$i mac=MAC$i ip=IP$i
    grep -Eq "^${!uuid} +${!mac} +${!ip} +- " "$WORK/out" || fail "no row for ${!uuid}"
done
expect 0 get machines -o json
jcheck 'ms = d["machines"]
assert len(ms) == 3, ms
assert sorted(m["uuid"] for m in ms) == sorted([env["UUID1"], env["UUID2"], env["UUID3"]])
assert [m["uuid"] for m in ms] == sorted(m["uuid"] for m in ms), "not in UUID order"
m1 = [m for m in ms if m["uuid"] == env["UUID1"]][0]
assert m1["boot_mac"] == env["MAC1"], m1
assert m1["roles"] == [], m1
assert isinstance(m1["created_unix_ms"], int) and m1["created_unix_ms"] > 1500000000000, m1
assert isinstance(m1["revision"], int) and m1["revision"] > 0, m1
assert env["IP1"] in [i["ipv4"] for i in m1["interfaces"]], m1["interfaces"]
assert m1["slot"] is None, m1
assert isinstance(d["revision"], int) and d["revision"] >= m1["revision"], d["revision"]'
cp "$WORK/out" "$WORK/machines.json"
expect 0 get machines -o yaml
out_has '^machines:$'
out_has "^  - uuid: \"?$UUID1\"?\$"
out_has "^    boot_mac: \"$MAC1\"\$"
out_has '^revision: [0-9]+$'
if python3 -c 'import yaml' 2>/dev/null; then
    python3 - "$WORK/out" "$WORK/machines.json" <<'EOF' || fail "YAML and JSON differ"
import json, sys, yaml
y = yaml.safe_load(open(sys.argv[1]))
j = json.load(open(sys.argv[2]))
# The revision may have moved between the two calls; the machines not.
assert y["machines"] == j["machines"], "machines differ"
EOF
fi

echo "== get machine"
MAC1_DASH=$(echo "$MAC1" | tr ':a-f' '-A-F')
expect 0 get machine "$MAC1_DASH"
out_has "^UUID: +$UUID1\$"
out_has "^Boot MAC: +$MAC1\$"
out_has '^Interfaces:$'
out_has "^  [a-z0-9]+ +$MAC1 +$IP1 "
out_has '^Disks:$'
expect 0 get machine "$UUID2" -o json
jcheck 'assert d["uuid"] == env["UUID2"] and d["boot_mac"] == env["MAC2"], d'
expect 1 get machine 52:54:00:00:00:99
err_has '^enjoliverctl: get machine 52:54:00:00:00:99: NOT_FOUND: '
expect 1 get machine 00000000-0000-0000-0000-000000000000
err_has 'NOT_FOUND'

# ---- admin writes -----------------------------------------------------------

echo "== schedule: the admin token"
expect 1 schedule "$MAC1" etcd-member,kubernetes-control-plane
err_has "^enjoliverctl: schedule $MAC1: UNAUTHENTICATED: "
expect 1 --token-file "$WORK/token-wrong" schedule "$MAC1" etcd-member,kubernetes-control-plane
err_has 'UNAUTHENTICATED'
expect 1 --token-file "$WORK/nonexistent" schedule "$MAC1" etcd-member
err_has 'token file'
expect 0 --token-file "$WORK/token-spaces" schedule "$MAC1" etcd-member,kubernetes-control-plane
out_has "^$MAC1 scheduled: etcd-member,kubernetes-control-plane \\(revision [0-9]+\\)\$"
set +e
ENJOLIVER_TOKEN_FILE="$WORK/token" "$CTL" --server "127.0.0.1:$GP" -o json \
    schedule "$MAC2" kubernetes-node >"$WORK/out" 2>"$WORK/err"
RC=$?
set -e
[ "$RC" = 0 ] || fail "schedule with ENJOLIVER_TOKEN_FILE: exit $RC"
jcheck 'assert d["mac"] == env["MAC2"] and d["roles"] == ["KUBERNETES_NODE"], d
assert isinstance(d["revision"], int) and d["revision"] > 0, d'
expect 1 --token-file "$WORK/token" schedule 52:54:00:00:00:99 kubernetes-node
[ -s "$WORK/err" ] || fail "scheduling an unknown machine: no message"

echo "== get schedules"
expect 0 get schedules
table_check 'MAC +ROLES +REVISION' ROLES REVISION
[ "$(rows)" = 2 ] || fail "get schedules: $(rows) rows, wanted 2"
out_has "^$MAC1 +etcd-member,kubernetes-control-plane +[0-9]+\$"
out_has "^$MAC2 +kubernetes-node +[0-9]+\$"
expect 0 get schedules kubernetes-node -o json
jcheck 'assert [s["mac"] for s in d["schedules"]] == [env["MAC2"]], d
assert d["schedules"][0]["roles"] == ["KUBERNETES_NODE"], d'
expect 0 get machines --role kubernetes-node
[ "$(rows)" = 1 ] || fail "--role kubernetes-node: $(rows) rows"
out_has "^$UUID2 +$MAC2 +$IP2 +kubernetes-node "
expect 0 get machines --unscheduled -o json
jcheck 'assert [m["uuid"] for m in d["machines"]] == [env["UUID3"]], d'

echo "== rolling"
expect 1 rolling enable "$MAC1"
err_has 'UNAUTHENTICATED'
expect 0 --token-file "$WORK/token" rolling enable "$MAC1" --strategy reboot
out_has "^rolling updates of $MAC1: enabled, strategy reboot\$"
expect 0 --token-file "$WORK/token" rolling enable "$MAC3" -o json
jcheck 'assert d["enabled"] is True and d["strategy"] == "kexec", d'
expect 0 --token-file "$WORK/token" rolling disable "$MAC3"
out_has "^rolling updates of $MAC3: disabled\$"
expect 0 get rolling
table_check 'MAC +ENABLED +STRATEGY' ENABLED STRATEGY
[ "$(rows)" = 3 ] || fail "get rolling: $(rows) rows"
out_has "^$MAC1 +true +reboot\$"
out_has "^$MAC3 +false +"
expect 0 get rolling -o json
jcheck 'r = {x["mac"]: x for x in d["rolling"]}
assert r[env["MAC1"]] == {"mac": env["MAC1"], "enabled": True, "strategy": "reboot"}, r
assert r[env["MAC3"]]["enabled"] is False, r
assert isinstance(d["revision"], int), d'
expect 0 get machines
out_has "^$UUID1 +$MAC1 .* reboot +- *\$"

# ---- events, slots, watches -------------------------------------------------------

echo "== get events"
has_leader_event() { run get events; [ "$RC" = 0 ] && grep -q 'leader-elected' "$WORK/out"; }
wait_until 20 has_leader_event
table_check 'TIME +KIND +MACHINE +REPLICA +MESSAGE' KIND MACHINE REPLICA MESSAGE
out_has '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +leader-elected +- +cli-test +'
expect 0 get events -o json
jcheck 'es = d["events"]
assert any(e["kind"] == "leader-elected" and e["replica"] == "cli-test" for e in es), es
assert all(isinstance(e["unix_ms"], int) and e["unix_ms"] > 0 for e in es), es
ts = [e["unix_ms"] for e in es]
assert ts == sorted(ts, reverse=True), "not newest first"'
expect 0 get events --limit 1 -o json
jcheck 'assert len(d["events"]) == 1, d'

echo "== watch machines --count (table): the snapshot"
expect 0 watch machines --count 4
[ "$(grep -c . "$WORK/out")" = 5 ] || fail "watch --count 4: $(grep -c . "$WORK/out") lines, wanted a header and 4"
head -n 1 "$WORK/out" | grep -Eq '^TYPE +REVISION +UUID +BOOT MAC +IPV4 +STATE +ROLES$' || fail "watch header"
[ "$(grep -c '^SNAPSHOT ' "$WORK/out")" = 3 ] || fail "watch: not 3 SNAPSHOT lines"
grep -Eq '^SNAPSHOT_END +[0-9]+ ' "$WORK/out" || fail "watch: no SNAPSHOT_END"
! grep -q ' $' "$WORK/out" || fail "watch: trailing spaces"

echo "== watch machines --count (json): a change as it happens"
# Each background watch writes its own files: the shell truncates a reused
# one only once the child runs, and a wait could see the old lines.
"$CTL" --server "127.0.0.1:$GP" watch machines --mac "$MAC4" -o json --count 2 \
    >"$WORK/watch-mac.out" 2>"$WORK/watch-mac.err" &
WPID=$!
PIDS+=("$WPID")
# The snapshot of a machine that does not exist yet: its end only.
wait_until 15 lines_in "$WORK/watch-mac.out" 1
post_discovery discovery-m04.json
wait_exit "$WPID" 15
[ "$EXIT_CODE" = 0 ] || fail "watch --count 2: exit $EXIT_CODE $(cat "$WORK/watch-mac.err")"
cp "$WORK/watch-mac.out" "$WORK/out"
python3 - "$WORK/out" <<'EOF' || fail "watch lines: $(cat "$WORK/out")"
import json, os, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 2, lines
end, put = (json.loads(l) for l in lines)
assert end["type"] == "SNAPSHOT_END" and end["machine"] is None, end
assert put["type"] == "PUT" and put["machine"]["boot_mac"] == os.environ["MAC4"], put
assert put["machine"]["uuid"] == os.environ["UUID4"], put
assert put["revision"] > end["revision"], (end, put)
EOF
REV_END=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["revision"])' "$WORK/out")

echo "== watch machines --resume"
expect 0 watch machines --resume "$((REV_END + 1))" --mac "$MAC4" --count 1 -o json
jcheck 'assert d["type"] == "PUT" and d["machine"]["boot_mac"] == env["MAC4"], d'

echo "== watch events: history, marker, then a new event (a granted slot)"
"$CTL" --server "127.0.0.1:$GP" watch events -o json --limit 1 --count 3 \
    >"$WORK/watch-events.out" 2>"$WORK/watch-events.err" &
WPID=$!
PIDS+=("$WPID")
wait_until 15 lines_in "$WORK/watch-events.out" 2
code=$(curl -s -m 10 -o "$WORK/body" -w '%{http_code}' -X POST "$URL/rollout/slot/mac=${MAC1//:/-}")
[ "$code" = 202 ] || [ "$code" = 200 ] || fail "POST /rollout/slot: $code $(cat "$WORK/body")"
wait_exit "$WPID" 20
[ "$EXIT_CODE" = 0 ] || fail "watch events: exit $EXIT_CODE $(cat "$WORK/watch-events.err")"
python3 - "$WORK/watch-events.out" <<'EOF' || fail "watch events lines: $(cat "$WORK/watch-events.out")"
import json, os, sys
lines = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()]
assert len(lines) == 3, lines
old, marker, new = lines
assert old["kind"] != "", old
assert marker["kind"] == "", marker
assert new["kind"] != "" and new["revision"] > old["revision"], new
EOF

echo "== get slots"
has_slot() { run get slots -o json; [ "$RC" = 0 ] && grep -q "\"$MAC1\"" "$WORK/out"; }
wait_until 15 has_slot
jcheck 'assert [s["mac"] for s in d["slots"]] == [env["MAC1"]], d
assert isinstance(d["slots"][0]["token"], int) and d["slots"][0]["token"] > 0, d
assert d["waiting"] == [] and d["paused"] is False, d'
expect 0 get slots
table_check 'MAC +TOKEN +GRANTED +GRANTED BY' TOKEN GRANTED
out_has "^$MAC1 +[0-9]+ +[0-9T:-]+Z +cli-test\$"
out_has '^Waiting: +none$'
out_has '^Paused: +no$'
expect 0 get machines
out_has "^$UUID1 +$MAC1 .* reboot +[0-9]+\$"

echo "== watch: SIGTERM and SIGINT end it with exit 0"
for sig in TERM INT; do
    "$CTL" --server "127.0.0.1:$GP" watch events >"$WORK/watch-$sig.out" 2>"$WORK/watch-$sig.err" &
    WPID=$!
    PIDS+=("$WPID")
    wait_until 15 lines_in "$WORK/watch-$sig.out" 2
    kill -"$sig" "$WPID"
    wait_exit "$WPID" 10
    [ "$EXIT_CODE" = 0 ] || fail "watch after SIG$sig: exit $EXIT_CODE $(cat "$WORK/watch-$sig.err")"
    head -n 1 "$WORK/watch-$sig.out" | grep -Eq '^TIME +REVISION +KIND +MACHINE +REPLICA +MESSAGE$' ||
        fail "watch events header"
done

# ---- backups ----------------------------------------------------------------

echo "== backup"
expect 1 backup
err_has '^enjoliverctl: backup: UNAUTHENTICATED: '
expect 0 --token-file "$WORK/token" backup
out_has '^path: '
SERVER_PATH=$(sed -n 's/^path: *//p' "$WORK/out")
SIZE=$(sed -n 's/^size: *\([0-9]*\) bytes.*/\1/p' "$WORK/out")
out_has '^revision: +[0-9]+$'
[ -f "$SERVER_PATH" ] || fail "no snapshot at $SERVER_PATH"
[ "$(stat -c %s "$SERVER_PATH")" = "$SIZE" ] || fail "$SERVER_PATH is not $SIZE bytes"
mkdir "$WORK/download"
expect 0 --token-file "$WORK/token" backup "$WORK/download"
LOCAL=$(cat "$WORK/out")
[[ $LOCAL == "$WORK/download/enjoliver-"*.db ]] || fail "backup DIR printed '$LOCAL'"
[ -s "$LOCAL" ] || fail "no file at $LOCAL"
expect 0 --token-file "$WORK/token" backup "$WORK/download" -o json
jcheck 'import os
p = d["local_path"]
assert os.path.dirname(p) == os.path.join(env["WORK"], "download"), p
assert os.path.basename(p) == "enjoliver-%d.db" % d["revision"], p
assert os.path.getsize(p) == d["size_bytes"] > 0, (os.path.getsize(p), d)
assert os.path.exists(d["path"]), d
with open(p, "rb") as f:
    assert len(f.read()) == d["size_bytes"]'
[ -z "$(find "$WORK/download" -name '.enjoliver-backup-*')" ] || fail "a temporary file was left"
expect 1 --token-file "$WORK/token" backup "$WORK/no-such-dir"
err_has 'not a directory'

echo "== --tls-ca: a second replica serving gRPC over TLS"
selfsigned() { # NAME: NAME.pem and NAME.key for 127.0.0.1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$WORK/$1.key" -out "$WORK/$1.pem" 2>/dev/null || fail "openssl: cannot make a certificate"
}
selfsigned tls
selfsigned other
HP2=$(free_port)
GP2=$(free_port)
"$ENJ" --etcd-endpoints "http://$ENDPOINT" --listen-http "127.0.0.1:$HP2" \
    --listen-grpc "127.0.0.1:$GP2" --grpc-tls-cert "$WORK/tls.pem" --grpc-tls-key "$WORK/tls.key" \
    --reconcile false --backup-dir "$WORK/backups2" --name cli-tls 2>"$WORK/enjoliverd-tls.log" &
PIDS+=("$!")
tls() { # ARGS...: enjoliverctl against the TLS replica
    set +e
    "$CTL" --server "127.0.0.1:$GP2" --timeout 5 "$@" >"$WORK/out" 2>"$WORK/err"
    RC=$?
    set -e
}
tls_up() { tls --tls-ca "$WORK/tls.pem" health; [ "$RC" = 0 ]; }
wait_until 30 tls_up
out_has '^replica: +cli-tls$'
tls --tls-ca "$WORK/tls.pem" get machines -o json
[ "$RC" = 0 ] || fail "get machines over TLS: exit $RC"
jcheck 'assert len(d["machines"]) == 4, d'
tls get machines
[ "$RC" = 1 ] || fail "plaintext to a TLS server: exit $RC"
err_has '^enjoliverctl: list machines: UNAVAILABLE: '
tls --tls-ca "$WORK/other.pem" get machines
[ "$RC" = 1 ] || fail "TLS with the wrong CA: exit $RC"
err_has 'UNAVAILABLE'
# One line: gRPC's own log of the failed handshake is not repeated.
[ "$(wc -l <"$WORK/err")" = 1 ] || fail "TLS with the wrong CA: more than one line on stderr"
tls --tls-ca "$WORK/missing.pem" get machines
[ "$RC" = 1 ] || fail "missing --tls-ca file: exit $RC"
err_has '^enjoliverctl: --tls-ca '

echo "== the server going away ends a watch with exit 1 and its status"
"$CTL" --server "127.0.0.1:$GP" watch machines >"$WORK/watch-end.out" 2>"$WORK/watch-end.err" &
WPID=$!
PIDS+=("$WPID")
wait_until 15 lines_in "$WORK/watch-end.out" 6 # the header, 4 machines, the end of the snapshot
kill -TERM "$ENJ_PID"
wait_exit "$ENJ_PID" 20
wait_exit "$WPID" 20
[ "$EXIT_CODE" = 1 ] || fail "watch when enjoliverd stopped: exit $EXIT_CODE"
grep -Eq '^enjoliverctl: watch machines: [A-Z_]+: ' "$WORK/watch-end.err" ||
    fail "watch when enjoliverd stopped: $(cat "$WORK/watch-end.err")"
grep -q '^enjoliverctl: watch machines: OK' "$WORK/watch-end.err" && fail "an OK status reported as an error"

echo "enjoliverctl_test: ok"

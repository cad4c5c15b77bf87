#!/usr/bin/env bash
# What a package installs, checked without a package manager:
#   - `cmake --install` into a DESTDIR puts the programs, man pages, systemd
#     units, default configuration and completion where Debian puts them;
#   - the man pages render and describe the flags the programs have;
#   - `systemd-analyze verify` accepts both units (their ExecStart pointed at
#     the installed programs);
#   - enjoliverd starts with the shipped configuration (no unknown key) and
#     stops cleanly;
#   - every shared library the programs link comes from a package that
#     dist/Dockerfile's runtime stage installs (or from Debian's base).
# usage: test_dist.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR SOURCE_DIR}
SRC=${2:?usage: $0 BUILD_DIR SOURCE_DIR}
T=$(mktemp -d "${TMPDIR:-/tmp}/enj-dist-XXXXXX")
PID=
cleanup() {
    [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    [ -f "$T/enjoliverd.log" ] && tail -n 20 "$T/enjoliverd.log" >&2
    exit 1
}

DESTDIR="$T/root" cmake --install "$BUILD" --prefix /usr >"$T/install.log" 2>&1 ||
    fail "cmake --install: $(tail -n 5 "$T/install.log")"
R="$T/root"
for f in usr/bin/enjoliverd usr/bin/enjoliver-agent usr/bin/enjoliverctl \
    usr/lib/systemd/system/enjoliverd.service usr/lib/systemd/system/enjoliver-agent.service \
    etc/enjoliver/enjoliverd.yaml etc/default/enjoliver-agent \
    usr/share/bash-completion/completions/enjoliverctl \
    usr/share/man/man1/enjoliverd.1 usr/share/man/man1/enjoliver-agent.1 \
    usr/share/man/man1/enjoliverctl.1; do
    [ -s "$R/$f" ] || fail "not installed: /$f"
done
for p in enjoliverd enjoliver-agent enjoliverctl; do
    [ -x "$R/usr/bin/$p" ] || fail "/usr/bin/$p is not executable"
done

# Man pages: they render, and they are the programs' own --help.
man -l "$R/usr/share/man/man1/enjoliverd.1" 2>/dev/null | grep -q -- "--listen-grpc" ||
    fail "enjoliverd(1) does not describe --listen-grpc"
man -l "$R/usr/share/man/man1/enjoliver-agent.1" 2>/dev/null | grep -q -- "--hooks-dir" ||
    fail "enjoliver-agent(1) does not describe --hooks-dir"
man -l "$R/usr/share/man/man1/enjoliverctl.1" 2>/dev/null | grep -q "watch" ||
    fail "enjoliverctl(1) does not describe watch"

# Units: verified against the installed programs and man pages.
mkdir -p "$T/units"
for u in enjoliverd enjoliver-agent; do
    sed "s|/usr/bin/|$R/usr/bin/|g" "$R/usr/lib/systemd/system/$u.service" >"$T/units/$u.service"
done
MANPATH="$R/usr/share/man" systemd-analyze verify "$T/units/enjoliverd.service" \
    "$T/units/enjoliver-agent.service" >"$T/verify.log" 2>&1 ||
    fail "systemd-analyze verify: $(cat "$T/verify.log")"
[ ! -s "$T/verify.log" ] || fail "systemd-analyze verify complained: $(cat "$T/verify.log")"
grep -q "^NoNewPrivileges=yes" "$R/usr/lib/systemd/system/enjoliverd.service" ||
    fail "enjoliverd.service is not hardened"

# The shipped configuration: enjoliverd starts with it.
"$R/usr/bin/enjoliverd" --config "$R/etc/enjoliver/enjoliverd.yaml" \
    --etcd-endpoints http://127.0.0.1:1 --listen-http 127.0.0.1:0 --listen-grpc 127.0.0.1:0 \
    --data-dir "$T/etcd" --backup-dir "$T/backups" >"$T/enjoliverd.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
    grep -q 'msg="enjoliverd started"' "$T/enjoliverd.log" && break
    kill -0 "$PID" 2>/dev/null || fail "enjoliverd exited with the shipped configuration"
    sleep 0.05
done
grep -q 'msg="enjoliverd started"' "$T/enjoliverd.log" || fail "enjoliverd did not start"
if grep -qi "unknown key\|unknown configuration" "$T/enjoliverd.log"; then
    fail "the shipped configuration has unknown keys"
fi
kill -TERM "$PID"
status=0
wait "$PID" || status=$?
PID=
[ "$status" -eq 0 ] || fail "enjoliverd exited with status $status after SIGTERM"

# Completion: bash loads it.
bash -c ". '$R/usr/share/bash-completion/completions/enjoliverctl' && complete -p enjoliverctl" \
    >/dev/null 2>&1 || fail "the completion does not load"

# The image's runtime libraries: every library the programs link is in a
# package dist/Dockerfile installs, or in Debian's base (libc, libgcc...).
runtime=$(sed -n '/^FROM debian:12-slim/,$p' "$SRC/dist/Dockerfile" |
    grep -oE '\blib[a-z0-9.+-]+|zlib1g' | sort -u)
# Debian's base, and the sanitizers' runtimes (the sanitizer build is never
# what an image ships).
base="libc6 libgcc-s1 libstdc++6 libasan8 libubsan1 libatomic1"
# Everything the runtime packages pull in (computed once).
for r in $runtime; do
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances "$r" 2>/dev/null || true
done | sed -n 's/^ *\(Pre\)\{0,1\}Depends: //p; /^[a-z]/p' | sort -u >"$T/runtime-closure"
for r in $runtime $base; do echo "$r"; done >>"$T/runtime-closure"
for p in enjoliverd enjoliver-agent enjoliverctl; do
    for lib in $(ldd "$R/usr/bin/$p" | awk '/=> \//{print $3}'); do
        pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
        [ -n "$pkg" ] || pkg=$(dpkg -S "$lib" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
        [ -n "$pkg" ] || fail "$p links $lib, which no package owns"
        grep -qx "$pkg" "$T/runtime-closure" ||
            fail "$p links $lib ($pkg), which dist/Dockerfile's runtime stage does not bring"
    done
done
echo "test_dist: ok"

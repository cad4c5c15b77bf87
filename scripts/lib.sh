# shellcheck shell=bash
# Shared by scripts/run and scripts/test (sourced, not executed).

# The Debian packages the project needs to build, run and test: the ONE list.
ENJ_DEB_PACKAGES=(
    etcd-server etcd-client
    libgrpc-dev protobuf-c-compiler libprotobuf-c-dev
    libuv1-dev libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev libyaml-dev libssl-dev zlib1g-dev
    cmake pkg-config gcc make
    curl python3 openssl
    python3-grpcio python3-protobuf protobuf-compiler # the gRPC API's interop tests, bench/grpc
    clang libclang-rt-dev # libFuzzer targets of tests/fuzz (sanitizer build)
    python3-yaml golang-go golang-github-masterminds-sprig-dev # tests/helm: the chart rendered and checked offline
    help2man man-db systemd # man pages from --help; their check and the units' (tests/dist)
)

enj_log() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
}

# Prints the packages of ENJ_DEB_PACKAGES that are not installed, one a line.
enj_missing_packages() {
    local p status
    for p in "${ENJ_DEB_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [ "$status" = installed ] || printf '%s\n' "$p"
    done
}

# Installs what is missing (root), or says what to install and exits 1.
enj_install_deps() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        enj_log "this needs a Debian (or Debian-based) system with dpkg and apt-get"
        exit 1
    fi
    local missing
    mapfile -t missing < <(enj_missing_packages)
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        enj_log "missing Debian packages: ${missing[*]}"
        enj_log "install them as root, then run this again:"
        enj_log "  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
        exit 1
    fi
    enj_log "installing missing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
    local p
    for p in "${missing[@]}"; do
        # Debian's etcd-server starts a system etcd on 127.0.0.1:2379/2380,
        # the default ports of enjoliverd's own local etcd. Only when we just
        # installed it: keep it stopped and disabled.
        if [ "$p" = etcd-server ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
            enj_log "disabling the etcd.service that etcd-server just installed (enjoliverd runs its own etcd)"
            systemctl disable --now etcd.service >/dev/null 2>&1 || true
        fi
    done
    mapfile -t missing < <(enj_missing_packages)
    if [ ${#missing[@]} -ne 0 ]; then
        enj_log "still missing after apt-get install: ${missing[*]}"
        exit 1
    fi
}

# enj_build DIR [CMAKE_ARGS...]: configure (idempotent) and build.
enj_build() {
    local dir=$1
    shift
    cmake -S . -B "$dir" "$@"
    cmake --build "$dir" -j "${ENJ_JOBS:-$(nproc)}"
}

#!/usr/bin/env bash
# tests/stack/deps.sh — idempotent installer for the tfstatefs test stack on a
# fresh Debian 12 machine (run as root).
#
# Installs the build/test Debian packages (apt-get only when something is
# missing, so repeat runs take well under a second; s3fs and rclone are make bench's
# contenders; prometheus for promtool and
# prometheus-node-exporter for tests/integration/test_metrics.py, which starts its own
# exporter on a free port: Debian also enables their services, on :9090 and :9100) and
# the npm package `dynalite` (local DynamoDB) into ${TFS_CACHE:-/var/cache/tfstatefs-test}/node.
#
# Env:
#   TFS_CACHE              cache root (default /var/cache/tfstatefs-test)
#   TFS_DYNALITE_VERSION   dynalite version (default 4.0.0 on node >= 20, else 3.2.2)
set -euo pipefail

CACHE="${TFS_CACHE:-/var/cache/tfstatefs-test}"

die() { echo "deps.sh: error: $*" >&2; exit 1; }

PKGS=(build-essential pkg-config openssl libfuse3-dev fuse3 libcurl4-openssl-dev
      libxml2-dev libjson-c-dev libssl-dev radosgw ceph-mon ceph-osd
      ceph-common python3-pytest python3-boto3 attr valgrind clang
      libfuzzer-14-dev libclang-rt-14-dev s3fs rclone psmisc procps curl
      prometheus prometheus-node-exporter)

missing=()
for p in "${PKGS[@]}"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$st" = "install ok installed" ] || missing+=("$p")
done
# nodejs/npm: a node from another source (e.g. nodesource, which bundles npm)
# may already be installed; only use Debian's when the commands are absent,
# so an existing node is never replaced or downgraded.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm  >/dev/null 2>&1 || missing+=(npm)

if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root to install them"
    echo "deps.sh: installing: ${missing[*]}"
    log=$(mktemp /tmp/tfs-deps-apt.XXXXXX)
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "apt-get failed (full log: $log)"
    fi
    rm -f "$log"
fi

command -v node >/dev/null 2>&1 || die "node not found after install"
command -v npm  >/dev/null 2>&1 || die "npm not found after install"

# dynalite 4 needs node >= 20 (nodesource); Debian 12's own node is 18 -> 3.2.2
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -ge 20 ]; then def_dyn=4.0.0; else def_dyn=3.2.2; fi
DYNALITE_VERSION="${TFS_DYNALITE_VERSION:-$def_dyn}"
DYN="$CACHE/node/node_modules/dynalite"
have=""
if [ -f "$DYN/cli.js" ] && [ -f "$DYN/package.json" ]; then
    have=$(node -p 'require(process.argv[1]).version' "$DYN/package.json" 2>/dev/null || true)
fi
if [ "$have" != "$DYNALITE_VERSION" ]; then
    echo "deps.sh: installing dynalite@$DYNALITE_VERSION into $CACHE/node"
    mkdir -p "$CACHE/node"
    log=$(mktemp /tmp/tfs-deps-npm.XXXXXX)
    if ! npm install --prefix "$CACHE/node" --no-audit --no-fund --no-update-notifier \
            --loglevel=error "dynalite@$DYNALITE_VERSION" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "npm install dynalite failed (full log: $log)"
    fi
    rm -f "$log"
    [ -f "$DYN/cli.js" ] || die "dynalite installed but $DYN/cli.js is missing"
fi

echo "deps.sh: ok (dynalite: $DYN/cli.js)"

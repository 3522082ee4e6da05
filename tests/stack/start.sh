#!/usr/bin/env bash
# tests/stack/start.sh DIR — start a throw-away S3 + DynamoDB test stack for
# tfstatefs, everything on 127.0.0.1 and everything under DIR:
#   * Ceph (Pacific): one ceph-mon + one memstore OSD, auth none, size-1 pools,
#     no mgr, no systemd; fresh fsid each run
#   * radosgw (beast frontend) on a free port, admin socket in DIR/run,
#     user `tfstatefs` with fixed test keys
#   * dynalite (in-memory DynamoDB) on a free port
# and writes DIR/env (sourceable: `export KEY=VALUE` lines) describing it.
# Stop with tests/stack/stop.sh DIR. Needs tests/stack/deps.sh to have run.
#
# Ports are picked at run time (never fixed); processes started are recorded
# in DIR/*.pid, and only those are ever stopped. On failure everything this
# script started is stopped again and the relevant log tail is printed; logs
# stay in DIR/log.
#
# Env knobs: TFS_CACHE (deps cache, default /var/cache/tfstatefs-test),
#   TFS_MEMSTORE_BYTES (OSD capacity, default 2 GiB), TFS_WAIT (seconds per
#   readiness wait, default 60), TFS_RGW_DEBUG (debug_rgw, default 1/5).
set -euo pipefail

T0=$(date +%s%N)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
CACHE="${TFS_CACHE:-/var/cache/tfstatefs-test}"
DYNALITE="$CACHE/node/node_modules/dynalite/cli.js"
MEMSTORE_BYTES="${TFS_MEMSTORE_BYTES:-2147483648}"
WAIT="${TFS_WAIT:-60}"
RGW_DEBUG="${TFS_RGW_DEBUG:-1/5}"
RGW_NAME=client.rgw.tfs
ACCESS_KEY=TFSTESTACCESSKEY0001
SECRET_KEY=tfstatefs-test-secret-key-0000000000000001

die() { echo "start.sh: error: $*" >&2; exit 1; }
log() {
    local ms=$(( ($(date +%s%N) - T0) / 1000000 ))
    printf 'start.sh: [%3d.%01ds] %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*"
}

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ -n "$1" ] || die "DIR is empty"
DIR=$(realpath -m -- "$1")
[ "$DIR" != / ] || die "refusing DIR=/"
case "$DIR" in *[[:space:]]*) die "DIR must not contain whitespace: $DIR";; esac

for b in ceph ceph-mon ceph-osd radosgw radosgw-admin monmaptool node curl setsid; do
    command -v "$b" >/dev/null 2>&1 || die "$b not found; run tests/stack/deps.sh"
done
[ -x "$PY" ] || die "$PY not found"
[ -f "$DYNALITE" ] || die "dynalite not found at $DYNALITE; run tests/stack/deps.sh"

MARK="$DIR/.tfstatefs-stack"
if [ -d "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
    [ -f "$MARK" ] || die "$DIR exists, is not empty and is not a tfstatefs stack dir"
    for f in "$DIR"/*.pid; do
        [ -f "$f" ] || continue
        p=$(head -n1 "$f" 2>/dev/null || true)
        if [ -n "$p" ] && [ -d "/proc/$p" ] && grep -qF -- "$(tail -n1 "$f")" "/proc/$p/cmdline" 2>/dev/null \
           && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ]; then
            die "a stack is already running in $DIR (pid $p from $(basename "$f")); run stop.sh $DIR first"
        fi
    done
    # stale leftovers of a crashed run: reuse the dir
    rm -rf "$DIR/mon" "$DIR/osd" "$DIR/run" "$DIR/log" "$DIR/rgw" "$DIR"/*.pid \
           "$DIR/env" "$DIR/ceph.conf" "$DIR/monmap"
fi
mkdir -p "$DIR"/{log,run,mon/ceph-a,osd/ceph-0,rgw}
touch "$MARK"
CONF="$DIR/ceph.conf"
LOGD="$DIR/log"
RGW_ASOK="$DIR/run/$RGW_NAME.asok"

# ---- process bookkeeping -------------------------------------------------
# DIR/NAME.pid holds the pid on line 1 and, on line 2, a string that must be
# in /proc/PID/cmdline (stop.sh checks it, so a recycled pid is never killed).
STARTED=()
spawn() {  # spawn NAME MARKER CMD... : start detached, record pid
    local name=$1 marker=$2; shift 2
    setsid "$@" </dev/null >"$LOGD/$name.out" 2>&1 &
    local pid=$!
    printf '%s\n%s\n' "$pid" "$marker" >"$DIR/$name.pid"
    STARTED+=("$name")
}
alive() {  # alive NAME : recorded process still running (not a zombie)
    local f="$DIR/$1.pid" p st
    [ -f "$f" ] || return 1
    p=$(head -n1 "$f")
    st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || true)
    [ -n "$st" ] && [ "$st" != Z ]
}
fail() {  # fail MSG LOGFILE... : print log tails, stop what we started, exit 1
    local msg=$1; shift
    echo "start.sh: error: $msg" >&2
    local f
    for f in "$@"; do
        [ -s "$f" ] || continue
        echo "----- tail of $f -----" >&2
        grep -v '^[[:space:]]*$' "$f" | tail -n 25 >&2 || true
    done
    cleanup_started
    echo "start.sh: logs kept in $LOGD" >&2
    exit 1
}
cleanup_started() {
    [ "${#STARTED[@]}" -gt 0 ] || return 0
    echo "start.sh: stopping what was started: ${STARTED[*]}" >&2
    TFS_KEEP_LOGS=1 "$HERE/stop.sh" "$DIR" >&2 || true
    STARTED=()
}
on_exit() {
    local rc=$?
    if [ $rc -ne 0 ] && [ "${#STARTED[@]}" -gt 0 ]; then
        echo "start.sh: failed (exit $rc)" >&2
        cleanup_started
    fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ---- free ports (random in 20000-31999, below the ephemeral range, checked
# by binding; ceph OSD ports come from its own 6800-7300 range) -------------
read -r MON_PORT RGW_PORT DDB_PORT < <("$PY" - <<'EOF'
import random, socket
picked = set()
def free():
    for _ in range(1000):
        p = random.randrange(20000, 32000)
        if p in picked:
            continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        picked.add(p)
        return p
    raise SystemExit("no free port found")
print(free(), free(), free())
EOF
)
[ -n "${DDB_PORT:-}" ] || die "could not pick free ports"

# ---- dynalite (independent; started first, checked last) -----------------
# Through tests/stack/dynalite.js, so that a client leaving mid-request does not end it.
spawn dynalite "$DYNALITE" node "$HERE/dynalite.js" "$DYNALITE" --host 127.0.0.1 \
    --port "$DDB_PORT" --createTableMs 0 --deleteTableMs 0 --updateTableMs 0

# ---- ceph config ----------------------------------------------------------
FSID=$(cat /proc/sys/kernel/random/uuid)
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
cat >"$CONF" <<EOF
# generated by tests/stack/start.sh — throw-away test cluster
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
# auth none cannot do msgr2 "secure" mode: use crc everywhere
ms cluster mode = crc
ms service mode = crc
ms client mode = crc
ms mon cluster mode = crc
ms mon service mode = crc
ms mon client mode = crc
run dir = $DIR/run
mon data = $DIR/mon/\$cluster-\$id
osd data = $DIR/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 500
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 1
mon data avail crit = 0
# single mon: commit changes quickly instead of batching for 1 s
paxos propose interval = 0.05
paxos min wait = 0.01
osd fast shutdown = true

[mon]
admin socket = $DIR/run/\$name.asok
log file = $LOGD/\$name.log

[osd]
admin socket = $DIR/run/\$name.asok
log file = $LOGD/\$name.log
osd op num shards = 2
osd op num threads per shard = 2

[$RGW_NAME]
admin socket = $DIR/run/\$name.asok
log file = $LOGD/\$name.log
debug rgw = $RGW_DEBUG
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
# Virtual-hosted requests (bucket.localhost) work too: curl resolves *.localhost to loopback.
rgw dns name = localhost
rgw data = $DIR/rgw
rgw thread pool size = 64
rgw enable gc threads = false
rgw enable lc threads = false
rgw enable quota threads = false
rgw run sync thread = false
rgw dynamic resharding = false
# SSE-C (customer keys, Terraform's sse_customer_key) over plain HTTP: radosgw refuses
# the key headers without TLS by default, and this stack has no TLS.
rgw crypt require ssl = false
EOF

# ---- mon ------------------------------------------------------------------
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap" \
    >"$LOGD/mkfs.out" 2>&1 || fail "monmaptool failed" "$LOGD/mkfs.out"
ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" >>"$LOGD/mkfs.out" 2>&1 \
    || fail "ceph-mon --mkfs failed" "$LOGD/mkfs.out"
spawn mon.a "$CONF" ceph-mon -c "$CONF" -i a -f
# OSD store can be made without the mon (memstore, no mon config)
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" --no-mon-config >>"$LOGD/mkfs.out" 2>&1 \
    || fail "ceph-osd --mkfs failed" "$LOGD/mkfs.out"

# helper: run a python/librados step with a deadline
rados_step() {  # rados_step STEP ARGS...
    "$PY" - "$CONF" "$WAIT" "$@" <<'EOF'
import json, sys, time, rados
conf, wait, step, args = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4:]
deadline = time.time() + wait

def connect():
    last = None
    while time.time() < deadline:
        r = rados.Rados(conffile=conf, conf={"client_mount_timeout": "5",
                                             "rados_mon_op_timeout": "15",
                                             "rados_osd_op_timeout": "5"})
        try:
            r.connect(timeout=5)
            return r
        except Exception as e:
            last = e
            try: r.shutdown()
            except Exception: pass
            time.sleep(0.1)
    sys.exit(f"mon not reachable within {wait:.0f}s: {last}")

def cmd(r, **kw):
    ret, out, err = r.mon_command(json.dumps(kw), b"")
    if ret != 0:
        sys.exit(f"mon command {kw} failed: {ret} {err}")
    return out

r = connect()
if step == "setup":
    osd_uuid = args[0]
    cmd(r, prefix="osd new", uuid=osd_uuid, id=0)
    # pre-create radosgw's pools in one go (PGs get created as soon as the
    # OSD is up), instead of radosgw creating them one by one at startup
    for pool in (".rgw.root", "default.rgw.control", "default.rgw.meta",
                 "default.rgw.log", "default.rgw.buckets.index",
                 "default.rgw.buckets.data", "default.rgw.buckets.non-ec"):
        cmd(r, prefix="osd pool create", pool=pool, pg_num=8, pgp_num=8)
        cmd(r, prefix="osd pool application enable", pool=pool, app="rgw")
    # no background scrubbing during tests/benchmarks
    for flag in ("noscrub", "nodeep-scrub"):
        cmd(r, prefix="osd set", key=flag)
elif step == "wait-active":
    # wait for the OSD to be up in the osdmap, then refresh this client's map
    # (an op sent while no OSD was up can sit in the objecter until timeout)
    while True:
        st = json.loads(cmd(r, prefix="osd stat", format="json"))
        if st.get("num_up_osds", st.get("osdmap", {}).get("num_up_osds", 0)) >= 1:
            break
        if time.time() >= deadline:
            sys.exit(f"OSD not up within {wait:.0f}s: {st}")
        time.sleep(0.05)
    r.wait_for_latest_osdmap()
    # every pool answers a write => (at least those) PGs active
    pools = r.list_pools()
    pending = list(pools)
    last = None
    while pending and time.time() < deadline:
        pool = pending[0]
        try:
            with r.open_ioctx(pool) as io:
                io.write_full("tfs-start-probe", b"x")
                io.remove_object("tfs-start-probe")
            pending.pop(0)
        except Exception as e:
            last = e
            time.sleep(0.1)
    if pending:
        sys.exit(f"pools not active within {wait:.0f}s: {pending} ({last})")
r.shutdown()
EOF
}

rados_step setup "$OSD_UUID" >"$LOGD/setup.out" 2>&1 \
    || fail "ceph mon setup failed" "$LOGD/setup.out" "$LOGD/mon.a.out" "$LOGD/mon.a.log"
log "ceph-mon up on 127.0.0.1:$MON_PORT, pools created"

# ---- osd ------------------------------------------------------------------
spawn osd.0 "$CONF" ceph-osd -c "$CONF" -i 0 -f
rados_step wait-active >"$LOGD/wait-active.out" 2>&1 \
    || fail "OSD did not become active" "$LOGD/wait-active.out" "$LOGD/osd.0.out" "$LOGD/osd.0.log"
log "ceph-osd up, PGs active"

# ---- radosgw --------------------------------------------------------------
http_up() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/"; }
rgw_ok=
for attempt in 1 2 3; do
    spawn radosgw "$CONF" radosgw -c "$CONF" -n "$RGW_NAME" -f
    end=$(( $(date +%s) + WAIT ))
    while [ "$(date +%s)" -lt "$end" ]; do
        if http_up "$RGW_PORT"; then rgw_ok=1; break; fi
        alive radosgw || break
        sleep 0.1
    done
    [ -n "$rgw_ok" ] && break
    if ! alive radosgw && grep -qiE 'address already in use|failed to bind' "$LOGD/$RGW_NAME.log" "$LOGD/radosgw.out" 2>/dev/null; then
        # port raced away between pick and bind: pick another and retry
        RGW_PORT=$("$PY" -c 'import socket,random
while True:
    p=random.randrange(20000,32000); s=socket.socket()
    try: s.bind(("127.0.0.1",p)); print(p); break
    except OSError: pass
    finally: s.close()')
        sed -i "s|^rgw frontends = .*|rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT|" "$CONF"
        log "radosgw port in use, retrying on $RGW_PORT"
        continue
    fi
    break
done
if [ -z "$rgw_ok" ]; then
    if alive radosgw; then why="did not answer HTTP on 127.0.0.1:$RGW_PORT within ${WAIT}s"
    else why="exited before answering HTTP on 127.0.0.1:$RGW_PORT"; fi
    fail "radosgw $why" "$LOGD/radosgw.out" "$LOGD/$RGW_NAME.log"
fi
log "radosgw up on 127.0.0.1:$RGW_PORT"

# Every test makes its own bucket, and check.sh runs the suite three times on one stack:
# radosgw's default of 1,000 buckets a user is not enough.
radosgw-admin -c "$CONF" user create --uid tfstatefs --display-name "tfstatefs test user" \
    --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" --max-buckets 100000 \
    >"$LOGD/user-create.out" 2>&1 \
    || fail "radosgw-admin user create failed" "$LOGD/user-create.out"
grep -q "$ACCESS_KEY" "$LOGD/user-create.out" || fail "user create printed no key" "$LOGD/user-create.out"

# ---- dynalite readiness ---------------------------------------------------
end=$(( $(date +%s) + WAIT ))
until http_up "$DDB_PORT"; do
    alive dynalite || fail "dynalite exited" "$LOGD/dynalite.out"
    [ "$(date +%s)" -lt "$end" ] || fail "dynalite did not answer on 127.0.0.1:$DDB_PORT within ${WAIT}s" "$LOGD/dynalite.out"
    sleep 0.1
done
log "dynalite up on 127.0.0.1:$DDB_PORT"

for n in mon.a osd.0 radosgw dynalite; do
    alive "$n" || fail "$n died during startup" "$LOGD/$n.out"
done

# ---- env --------------------------------------------------------------------
cat >"$DIR/env.tmp" <<EOF
export TFS_STACK_DIR=$DIR
export TFS_S3_ENDPOINT=http://127.0.0.1:$RGW_PORT
export TFS_S3_PORT=$RGW_PORT
export TFS_DDB_ENDPOINT=http://127.0.0.1:$DDB_PORT
export TFS_DDB_PORT=$DDB_PORT
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export TFS_RGW_ASOK=$RGW_ASOK
export TFS_RGW_NAME=$RGW_NAME
export TFS_RGW_PID_FILE=$DIR/radosgw.pid
export TFS_CEPH_CONF=$CONF
EOF
mv "$DIR/env.tmp" "$DIR/env"
STARTED=()   # success: keep everything running
log "stack ready in $DIR (source $DIR/env)"

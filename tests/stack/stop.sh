#!/usr/bin/env bash
# tests/stack/stop.sh DIR — stop a test stack started by tests/stack/start.sh
# and remove its data.
#
# Stops exactly the processes recorded in DIR/*.pid (a pid is only signalled
# if /proc/PID/cmdline still contains the marker recorded next to it, so a
# recycled pid is never hit): TERM, bounded wait, then KILL. Order: radosgw and
# dynalite, then OSDs, then mons. Then deletes what start.sh created in DIR
# (and DIR itself if it ends up empty). Safe to run twice, or on a DIR that a
# failed start.sh left behind. TFS_KEEP_LOGS=1 keeps DIR/log;
# TFS_STOP_WAIT (default 10) is the TERM grace in seconds.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ -n "$1" ] || { echo "stop.sh: error: DIR is empty" >&2; exit 2; }
DIR=$(realpath -m -- "$1")
GRACE="${TFS_STOP_WAIT:-10}"

if [ ! -d "$DIR" ]; then
    echo "stop.sh: $DIR does not exist, nothing to do"
    exit 0
fi
if [ ! -f "$DIR/.tfstatefs-stack" ]; then
    echo "stop.sh: error: $DIR is not a tfstatefs stack dir (no .tfstatefs-stack); not touching it" >&2
    exit 1
fi

# running NAME -> prints the pid if the recorded process is still ours and alive
running() {
    local f="$DIR/$1.pid" p marker st
    [ -f "$f" ] || return 1
    p=$(sed -n 1p "$f"); marker=$(sed -n 2p "$f")
    [[ "$p" =~ ^[0-9]+$ ]] || return 1
    st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || true)
    [ -n "$st" ] && [ "$st" != Z ] || return 1
    if [ -n "$marker" ]; then
        tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -qxF -- "$marker" || return 1
    fi
    echo "$p"
}

stop_group() {  # stop_group NAME... : TERM all, wait, KILL leftovers
    local names=("$@") n p left end
    [ "${#names[@]}" -gt 0 ] || return 0
    for n in "${names[@]}"; do
        p=$(running "$n") && kill -TERM "$p" 2>/dev/null || true
    done
    end=$(( $(date +%s%N) + GRACE * 1000000000 ))
    while :; do
        left=()
        for n in "${names[@]}"; do running "$n" >/dev/null && left+=("$n"); done
        [ "${#left[@]}" -eq 0 ] && return 0
        [ "$(date +%s%N)" -lt "$end" ] || break
        sleep 0.05
    done
    for n in "${left[@]}"; do
        p=$(running "$n") || continue
        echo "stop.sh: $n (pid $p) ignored TERM for ${GRACE}s, sending KILL" >&2
        kill -KILL "$p" 2>/dev/null || true
    done
    end=$(( $(date +%s) + 5 ))
    for n in "${left[@]}"; do
        while running "$n" >/dev/null; do
            if [ "$(date +%s)" -ge "$end" ]; then
                echo "stop.sh: error: $n still running after KILL" >&2
                return 1
            fi
            sleep 0.05
        done
    done
}

front=() osds=() mons=()
for f in "$DIR"/*.pid; do
    [ -f "$f" ] || continue
    n=$(basename "$f" .pid)
    case "$n" in
        osd.*) osds+=("$n") ;;
        mon.*) mons+=("$n") ;;
        *)     front+=("$n") ;;
    esac
done
rc=0
stop_group "${front[@]}" || rc=1
stop_group "${osds[@]}" || rc=1
stop_group "${mons[@]}" || rc=1
if [ $rc -ne 0 ]; then
    echo "stop.sh: error: some processes could not be stopped; leaving $DIR in place" >&2
    exit 1
fi

rm -rf "$DIR/mon" "$DIR/osd" "$DIR/run" "$DIR/rgw" "$DIR/monmap" "$DIR/ceph.conf" \
       "$DIR/env" "$DIR/env.tmp" "$DIR"/*.pid
if [ "${TFS_KEEP_LOGS:-0}" = 1 ]; then
    echo "stop.sh: stopped; logs kept in $DIR/log"
else
    rm -rf "$DIR/log"
    rm -f "$DIR/.tfstatefs-stack"
    rmdir "$DIR" 2>/dev/null || true
    echo "stop.sh: stopped and removed $DIR"
fi

#!/usr/bin/env bash
# make bench: a stack of its own, the benchmark (tests/bench/bench.py), the stack stopped.
# Beside the contenders, bench.py walks build/nullfs (tests/bench/nullfs.c, built here): the
# same tree served from memory over FUSE, as tfstatefs is mounted, the FUSE floor.
# BENCH_SIZES="10000 100000" sets the bucket sizes (none: skip this part). BENCH_LAYOUTS picks
# the key layouts (default "per10 perdir": 10 states a directory, team%04d/app%d.tfstate; one
# a directory, t<i/10>/a<i%10>/terraform.tfstate). BENCH_PEERS the contenders beside
# tfstatefs (default "s3fs rclone"; none: tfstatefs alone), BENCH_PEER_CAP their time cap (s,
# default 60; BENCH_S3FS_CAP is its older name). BENCH_LATENCY_MS=40 holds every answer of
# radosgw 40 ms (tests/bench/latency_proxy.py), for the floor and every contender. BENCH_BUCKET
# names the buckets ("%d": N, "%l": the layout; see bench.py). BENCH_HISTORY=1 adds the
# history part (tests/bench/bench_history.py) at BENCH_HISTORY_SIZES="VERSIONS STATES PER"
# (default "1000 10000 20": one state of 1,000 versions; 10,000 states of 20 versions each).
set -euo pipefail
cd "$(dirname "$0")/../.."
tests/stack/deps.sh >/dev/null
make -s all build/nullfs
dir=$(mktemp -d /tmp/tfs-bench-stack.XXXXXX)
trap 'tests/stack/stop.sh "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
tests/stack/start.sh "$dir" >/dev/null
if [ "${BENCH_SIZES:-}" != none ]; then
	# shellcheck disable=SC2086
	/usr/bin/python3 tests/bench/bench.py "$dir/env" ${BENCH_SIZES:-10000}
fi
if [ -n "${BENCH_HISTORY:-}" ] && [ "$BENCH_HISTORY" != 0 ]; then
	# shellcheck disable=SC2086
	/usr/bin/python3 tests/bench/bench_history.py "$dir/env" ${BENCH_HISTORY_SIZES:-1000 10000 20}
fi

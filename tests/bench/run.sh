#!/usr/bin/env bash
# make bench: a stack of its own, the benchmark (tests/bench/bench.py), the stack stopped.
# BENCH_SIZES="10000 100000" sets the bucket sizes; BENCH_S3FS_CAP the s3fs time cap (s).
set -euo pipefail
cd "$(dirname "$0")/../.."
tests/stack/deps.sh >/dev/null
make -s all
dir=$(mktemp -d /tmp/tfs-bench-stack.XXXXXX)
trap 'tests/stack/stop.sh "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
tests/stack/start.sh "$dir" >/dev/null
# shellcheck disable=SC2086
/usr/bin/python3 tests/bench/bench.py "$dir/env" ${BENCH_SIZES:-10000}

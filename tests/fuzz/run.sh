#!/usr/bin/env bash
# Builds and runs each libFuzzer target given for SECONDS, from a scratch copy of its seed
# corpus, and prints what each did. Exits non-zero when a target finds a crash.
set -uo pipefail
seconds=$1; shift
cd "$(dirname "$0")/../.."
flags=$(pkg-config --cflags --libs fuse3 libcurl libxml-2.0 json-c openssl)
status=0
for src in "$@"; do
	name=$(basename "$src" .c); corpus=tests/fuzz/corpus/${name#fuzz_}
	bin=build/fuzz/$name; work=build/fuzz/work/${name#fuzz_}
	mkdir -p "$work" && cp -r "$corpus"/. "$work"/ 2>/dev/null
	# shellcheck disable=SC2086
	clang -O1 -g -I. -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined "$src" \
		build/fuzz/libtfstatefs.a $flags -lpthread -o "$bin" || { status=1; continue; }
	dict=(); [ -f "tests/fuzz/${name#fuzz_}.dict" ] && dict=(-dict="tests/fuzz/${name#fuzz_}.dict")
	[ -f tests/fuzz/xml.dict ] && [[ $name == fuzz_xml_* ]] && dict=(-dict=tests/fuzz/xml.dict)
	out=$("$bin" -max_total_time="$seconds" -artifact_prefix=build/fuzz/ "${dict[@]}" "$work" 2>&1)
	rc=$?
	runs=$(printf '%s\n' "$out" | sed -nE 's/^Done ([0-9]+) runs.*/\1/p')
	echo "fuzz: $name: ${runs:-?} runs in ${seconds}s, exit $rc"
	[ $rc -eq 0 ] || { printf '%s\n' "$out" | tail -n 30; status=1; }
done
exit $status

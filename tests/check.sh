#!/usr/bin/env bash
# Every test: installs what it needs, builds, runs the unit tests (plain, under valgrind,
# under ASan+UBSan), starts the local S3/DynamoDB stack, runs the integration tests
# against the plain and the sanitized binary, stops the stack. Prints one closing tally.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
results=()

step() { printf '\n==== %s\n' "$*"; }
record() { results+=("$1 $2 $3"); }   # name passed failed

tests/stack/deps.sh || { echo "check: dependencies could not be installed"; exit 1; }

step "build"
make -j2 all >/dev/null || { echo "check: 0 passed, 1 failed (build)"; exit 1; }
make -j2 $(ls tests/unit/test_*.c | sed 's#tests/unit/\(.*\)\.c#build/tests/\1#') >/dev/null \
	|| { echo "check: 0 passed, 1 failed (unit test build)"; exit 1; }

unit_tally() {  # name, then the command; reads run-unit.sh's closing line
	local name=$1; shift
	local out; out=$("$@" 2>&1); printf '%s\n' "$out" | tail -n 40
	local line; line=$(printf '%s\n' "$out" | grep -E '^unit: [0-9]+ passed' | tail -n1)
	local p f
	p=$(sed -nE 's/^unit: ([0-9]+) passed.*/\1/p' <<<"$line"); f=$(sed -nE 's/.* ([0-9]+) failed$/\1/p' <<<"$line")
	record "$name" "${p:-0}" "${f:-1}"
}

step "unit tests"
unit_tally unit tests/run-unit.sh build/tests/test_*

step "unit tests under valgrind"
UNIT_WRAPPER="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99" \
	unit_tally valgrind tests/run-unit.sh build/tests/test_*

step "ASan+UBSan build"
if make -j2 asan >/dev/null; then
	unit_tally asan-unit tests/run-unit.sh build/asan/tests/test_*
else
	record asan-build 0 1
fi

step "fuzzing smoke (libFuzzer, ${FUZZ_SECONDS:-10}s a target; make fuzz runs longer)"
fuzz_out=$(make -s fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-10}" 2>&1); printf '%s\n' "$fuzz_out" | grep '^fuzz:'
record fuzz "$(grep -c '^fuzz: .* exit 0$' <<<"$fuzz_out")" "$(grep -c '^fuzz: .* exit [1-9]' <<<"$fuzz_out")"
grep -q '^fuzz:' <<<"$fuzz_out" || { printf '%s\n' "$fuzz_out" | tail -n 20; record fuzz-build 0 1; }

step "local stack (radosgw, dynalite)"
STACK_DIR=$(mktemp -d /tmp/tfs-check-stack.XXXXXX)
# stop.sh leaves the directory while it holds the test reports: remove them too.
trap 'tests/stack/stop.sh "$STACK_DIR" >/dev/null 2>&1; rm -rf "$STACK_DIR"' EXIT
if ! tests/stack/start.sh "$STACK_DIR"; then
	record stack 0 1
else
	export TFS_STACK_ENV=$STACK_DIR/env
	pytest_tally() {  # name, binary, [test files: all of tests/integration]
		local name=$1 bin=$2 xml=$STACK_DIR/$1.xml
		shift 2
		TFSTATEFS_BIN=$bin $PY -m pytest -q -p no:cacheprovider --junitxml="$xml" \
			"${@:-tests/integration}"
		local counts; counts=$($PY - "$xml" <<-'PYEOF'
			import sys, xml.etree.ElementTree as ET
			try:
			    r = ET.parse(sys.argv[1]).getroot()
			    s = r if r.tag == "testsuite" else r.find("testsuite")
			    t, f, e, k = (int(s.get(a, 0)) for a in ("tests", "failures", "errors", "skipped"))
			    print(t - f - e - k, f + e)
			except Exception:
			    print(0, 1)
			PYEOF
		)
		record "$name" ${counts}
	}
	step "integration tests"
	pytest_tally integration build/tfstatefs
	step "integration tests, ASan+UBSan binary"
	ASAN_OPTIONS=detect_leaks=1 pytest_tally integration-asan build/asan/tfstatefs

	step "ThreadSanitizer build: race, browse and walk tests against it"
	if ! make -j2 tsan >/dev/null; then
		record tsan-build 0 1
	else
		tsan_bin=$PWD/build/tsan/tfstatefs
		# gcc 12's TSan aborts at start ("unexpected memory mapping") when the kernel
		# randomizes mmap with more bits than its shadow layout allows (vm.mmap_rnd_bits
		# 32 on some kernels; 28, the x86-64 default, is fine). Then the binary runs with
		# ASLR off (setarch -R, exec: same pid) rather than not at all.
		if "$tsan_bin" --version 2>&1 | grep -q "unexpected memory mapping"; then
			printf '#!/bin/sh\nexec setarch -R \"%s\" "$@"\n' "$tsan_bin" >"$STACK_DIR/tfstatefs-tsan"
			chmod +x "$STACK_DIR/tfstatefs-tsan"
			tsan_bin=$STACK_DIR/tfstatefs-tsan
		fi
		# A TSan report in a mount's stderr fails its test (conftest.py SANITIZER_MARKS).
		TSAN_OPTIONS="second_deadlock_stack=1" pytest_tally integration-tsan "$tsan_bin" \
			tests/integration/test_races.py tests/integration/test_browse.py tests/integration/test_walk.py
	fi
fi

step "summary"
tp=0 tf=0
for r in "${results[@]}"; do
	set -- $r
	printf '  %-18s %5d passed, %d failed\n' "$1" "$2" "$3"
	tp=$((tp + $2)); tf=$((tf + $3))
done
echo "check: $tp passed, $tf failed"
[ "$tf" -eq 0 ]

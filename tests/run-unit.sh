#!/usr/bin/env bash
# Runs each unit-test binary given (under $UNIT_WRAPPER when set, e.g. valgrind)
# and prints one closing tally for all of them. A binary that exits non-zero
# without reporting a failed check (a crash, a valgrind error) counts as a failure.
set -u
passed=0 failed=0
for t in "$@"; do
	out=$(${UNIT_WRAPPER:-} "$t" 2>&1); rc=$?
	printf '%s\n' "$out"
	line=$(printf '%s\n' "$out" | grep -E '^[a-z_0-9]+: [0-9]+ passed, [0-9]+ failed$' | tail -n1)
	p=$(printf '%s' "$line" | sed -nE 's/.* ([0-9]+) passed.*/\1/p')
	f=$(printf '%s' "$line" | sed -nE 's/.* ([0-9]+) failed$/\1/p')
	if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
		echo "unit: $t exited with status $rc"
		f=1
	fi
	passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

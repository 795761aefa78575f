#!/usr/bin/env bash
# Runs every native fuzz target in the module for the given time each
# (default 15s). Used by `make test` (briefly) and `make fuzz`.
# Minimizing a new interesting input is capped (FUZZ_MINIMIZE_TIME, default
# 1s): with corpus files of several KB, minimization otherwise takes whole
# seconds per input and a short run spends most of its time there.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-15s}"
status=0
while IFS= read -r pkg; do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "fuzz: $pkg $target for $fuzztime"
		if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "${FUZZ_MINIMIZE_TIME:-1s}"; then
			status=1
		fi
	done
done < <(go list ./... )
exit $status

#!/usr/bin/env bash
# Runs every native fuzz target in the module for the given time each
# (default 15s). Used by `make fuzz-smoke` and `make fuzz`; `make test` only
# replays the seeds and committed findings (plain `go test`).
# Minimizing a new interesting input is capped (FUZZ_MINIMIZE_TIME, default
# 1s): with corpus files of several KB, minimization otherwise takes whole
# seconds per input and a short run spends most of its time there.
# A run that ends with only "context deadline exceeded" and writes no failing
# input is the fuzzing engine tripping over its own time limit (a Go 1.26
# bug, not a finding): that target is run once more, and fails only if it
# fails again.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-15s}"
status=0
while IFS= read -r pkg; do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "fuzz: $pkg $target for $fuzztime"
		for attempt in 1 2; do
			log=$(mktemp)
			if go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "${FUZZ_MINIMIZE_TIME:-1s}" 2>&1 | tee "$log"; then
				rm -f "$log"
				break
			fi
			if [[ $attempt == 1 ]] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
				echo "fuzz: $target hit the engine's own deadline without a finding; running it once more"
				rm -f "$log"
				continue
			fi
			rm -f "$log"
			status=1
			break
		done
	done
done < <(go list ./... )
exit $status

#!/usr/bin/env bash
# Runs every benchmark of the webhook and prints one table (`make bench`):
#   1. in-process: the review path against the decode/encode floor, on a
#      ~5 KB Deployment pod review and pods with 10 to 5,000 env vars;
#   2. HTTPS load (vegeta, open loop, constant rate) on secure-defaults, the
#      controller-runtime reference webhook and the ideal webhook: max
#      sustainable rate, latency at a fixed rate, peak RSS;
#   3. dry-run pod creates through a real kube-apiserver with no webhook,
#      the ideal webhook, secure-defaults and the exported
#      MutatingAdmissionPolicy, in interleaved rounds;
#   4. image lookup: a review with lookup on and a warm cache against lookup
#      off (on/off), a cold and a warm lookup on a loopback registry, and the
#      memory of a cache of 10,000 digests (printed as go test prints them).
# Ratios compare figures measured in the same run. It takes a few minutes on
# 2 cores; the first run also builds kube-apiserver and etcd (hack/e2e-bins.sh,
# several minutes, cached). Everything listens on 127.0.0.1 only.
#
# Environment:
#   BENCH_COUNT      go test -count for the in-process benchmarks (default 6)
#   BENCH_TIME       go test -benchtime (default 0.3s)
#   BENCH_LOOKUP_COUNT  go test -count for the image lookup benchmarks (default 3)
#   BENCH_STEP       duration of each load step (default 3s)
#   BENCH_APISERVER  0 skips the API server part (default 1)
#   BENCH_OUT        keep the raw results (go test output, JSON) in this directory
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
export GOWORK=off
start=${SECONDS}
log() { echo "bench.sh: $*" >&2; }

out="${BENCH_OUT:-}"
if [[ -z "${out}" ]]; then
	out="$(mktemp -d)"
	trap 'rm -rf "${out}"' EXIT
fi
mkdir -p "${out}/bin"
review=pkg/admission/testdata/review-deployment-pod.json

log "building the webhooks and the driver"
CGO_ENABLED=0 go build -trimpath -o "${out}/bin/secure-defaults" ./cmd/secure-defaults
(cd hack/bench && CGO_ENABLED=0 go build -trimpath -o "${out}/bin/" ./cmd/...)
bench="${out}/bin/bench"

log "in-process benchmarks (count ${BENCH_COUNT:-6})"
go test ./pkg/admission/ -run '^$' -bench '^BenchmarkReview$' -benchmem \
	-count "${BENCH_COUNT:-6}" -benchtime "${BENCH_TIME:-0.3s}" >"${out}/gobench.txt"

log "image lookup benchmarks (count ${BENCH_LOOKUP_COUNT:-3})"
go test ./pkg/admission/ ./pkg/imagelookup/ -run '^$' \
	-bench '^(BenchmarkReviewImageLookup|BenchmarkLookupCold|BenchmarkLookupWarm|BenchmarkCacheMemory)$' -benchmem \
	-count "${BENCH_LOOKUP_COUNT:-3}" -benchtime "${BENCH_TIME:-0.3s}" >"${out}/lookup.txt"

log "HTTPS load"
"${bench}" load --bin-dir "${out}/bin" --review "${review}" --step "${BENCH_STEP:-3s}" --out "${out}/load.json"

api=()
if [[ "${BENCH_APISERVER:-1}" != 0 ]]; then
	bins="$(hack/e2e-bins.sh)"
	log "API server latency"
	"${bench}" apiserver --bin-dir "${out}/bin" --e2e-bins "${bins}" --review "${review}" --out "${out}/apiserver.json"
	api=(--apiserver "${out}/apiserver.json")
fi

"${bench}" report --go-bench "${out}/gobench.txt" --load "${out}/load.json" "${api[@]}"
echo
echo "Image lookup (on/off: review with lookup on and a warm cache over lookup off, same loop; docs/performance.md):"
grep -E '^Benchmark' "${out}/lookup.txt"
echo
echo "make bench took $((SECONDS - start)) s"

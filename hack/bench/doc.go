// Package bench is the module behind `make bench` (hack/bench.sh). It is a
// separate module so the product does not depend on controller-runtime or
// vegeta:
//
//   - cmd/reference-webhook: secure-defaults' rules behind controller-runtime's
//     webhook server and an admission.CustomDefaulter, the way most teams
//     build a mutating webhook;
//   - cmd/ideal-webhook: hand-built patch operations, no diff, no
//     re-encoding: the lower bound;
//   - cmd/bench: the HTTPS load test (vegeta as a library), the API server
//     latency driver (the e2e control plane) and the report.
//
// Check it with `cd hack/bench && go vet ./...`.
package bench

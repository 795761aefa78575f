// Package validation holds one test: the API server's own pod validation
// (k8s.io/kubernetes/pkg/apis/core/validation, as kube-apiserver v1.37.2
// runs it) over every pod the rules are tested with — the rule tables'
// fixtures, the mutate corpus and a batch of generated pods — before and
// after the rules, asserting "valid before ⇒ valid after": a patch never
// makes a valid pod invalid.
//
// It is a module of its own so that the project itself never depends on
// k8s.io/kubernetes. `make validation` (part of `make test`) runs it: it
// first runs pkg/defaults' tests with SECURE_DEFAULTS_FIXTURES_OUT set, which
// makes every pod they check land in that directory, then this test with
// SECURE_DEFAULTS_FIXTURES pointing at it.
package validation

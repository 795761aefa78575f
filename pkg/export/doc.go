// Package export turns the rules of package defaults, under a configuration,
// into a MutatingAdmissionPolicy and its MutatingAdmissionPolicyBinding
// (admissionregistration.k8s.io/v1): the same defaults applied by the API
// server itself, in CEL, with no webhook to run.
//
// The policy is generated, never written by hand: `make generate` writes the
// shipped configuration's policy to deploy/policy/mutating-admission-policy.yaml,
// and a test fails when that file is stale, so a change to a rule shows up
// as a diff of the policy too.
//
// # How the CEL mirrors the Go rules
//
// The policy has one JSONPatch mutation. Its variables read the pod once, as
// it came in, the way defaults.Apply decides everything up front: which
// containers are in scope (the skip-containers annotation and the
// configuration's excludeContainers/excludeImages patterns), which need root
// (the order of pkg/defaults/root.go, without image facts), whether the pod
// is a Windows or HostProcess pod, and then, per rule and per container,
// whether the rule sets its field there. The mutation then lists the JSON
// patch operations in a fixed order: parents first (a securityContext, a
// capabilities, the volumes list), then fields, then the defaulted
// annotation. Rules switched off in the configuration are left out of the
// policy; the skip-rules annotation is read at admission time.
//
// capabilities.drop is an atomic list, which an apply configuration cannot
// append to: "ALL" is appended with a JSON patch "add .../drop/-".
//
// # What the policy does differently
//
// Differences lists them; they appear in a comment at the top of the
// generated YAML and in the README, and the e2e test shows each one on a
// real API server against the webhook (pinnedDifferences there fails when
// one is listed but not shown).
//
// The binding selects the namespaces the webhook serves: labelled
// secure-defaults.dev/inject=enabled, never kube-system or kube-node-lease.
package export

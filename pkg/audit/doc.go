// Package audit reports what opting a live cluster in to secure-defaults
// would do, without changing anything in it: which workloads the rules would
// change, whether their pods would pass Pod Security "restricted" before and
// after, what would still fail it, which containers keep root and why, and
// which workloads might no longer start.
//
// Run lists, in pages (Options.PageSize, 500 by default), the objects that own
// pods: Deployments, StatefulSets, DaemonSets, CronJobs, and Jobs, ReplicaSets,
// ReplicationControllers and Pods whose controller is not one of those kinds
// (those it is are covered by their owner; mirror pods are left out). Only the small per-workload result of
// each object is kept, so memory grows with the number of workloads, never
// with the size of their manifests or of a page more than once.
//
// Each pod template (or bare Pod) goes through Evaluate: the rules run on a
// copy, exactly as the webhook runs them on a pod created from that template,
// and Pod Security "restricted" (k8s.io/pod-security-admission, latest
// version) is evaluated on the pod before and after.
//
// Problems do not stop a run: a namespace or kind the caller may not list is
// reported as forbidden and skipped, an object that does not decode into the
// Kubernetes types is reported and the rest goes on. Only a cluster that
// cannot be reached at all (or a namespace list that is needed and refused)
// makes Run fail.
//
// The Report is rendered as a table (kubectl style, with a wide variant) or
// as JSON whose shape is versioned by its apiVersion and kind and documented
// in docs/audit.md.
package audit

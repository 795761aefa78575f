package audit

import "github.com/secure-defaults/secure-defaults/pkg/defaults"

// The report's apiVersion and kind. A change that removes or renames a field,
// or changes a field's meaning, takes a new version.
const (
	APIVersion = "audit.secure-defaults.dev/v1alpha1"
	ReportKind = "AuditReport"
)

// Start verdicts: whether a workload's containers would still start once the
// rules have run.
const (
	// Starts: no container depends on something the rules added and the
	// kubelet must check against the image.
	Starts = "starts"
	// WouldNotStart: a container would be refused by the kubelet, e.g.
	// runAsNonRoot with an image known to run as root.
	WouldNotStart = "would-not-start"
	// StartUnknown: a container gets runAsNonRoot without a runAsUser, so the
	// kubelet checks the image's user, which only an image lookup can tell.
	StartUnknown = "unknown"
)

// Problem reasons.
const (
	ProblemForbidden   = "forbidden"   // the caller may not list this kind here
	ProblemNotFound    = "not-found"   // the API server does not serve the kind, or the namespace does not exist
	ProblemUndecodable = "undecodable" // the object does not decode into the Kubernetes types
	ProblemError       = "error"       // any other failure of a request
)

// Report is the result of one audit run.
type Report struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Scope is what was asked for.
	Scope Scope `json:"scope"`
	// Config is the configuration file the rules ran with, "" for the
	// shipped defaults.
	Config string `json:"config"`
	// ImageLookup says whether image facts were available. Without them a
	// workload whose start depends on its images' users is "unknown".
	ImageLookup bool `json:"imageLookup"`
	// Totals adds up Namespaces.
	Totals Counts `json:"totals"`
	// Namespaces holds one summary per namespace audited, sorted by name.
	Namespaces []Namespace `json:"namespaces"`
	// Workloads holds one entry per workload, sorted by namespace, kind, name.
	Workloads []Workload `json:"workloads"`
	// Problems lists what could not be audited, sorted.
	Problems []Problem `json:"problems"`
}

// Scope is what a run covered.
type Scope struct {
	// AllNamespaces is set for -A; Namespaces lists the namespaces named
	// otherwise.
	AllNamespaces bool     `json:"allNamespaces"`
	Namespaces    []string `json:"namespaces"`
	// Selector is the label selector on workloads, "" for none.
	Selector string `json:"selector"`
}

// Counts are the numbers of a namespace summary (or of the whole report).
type Counts struct {
	// Workloads audited.
	Workloads int `json:"workloads"`
	// WouldChange: workloads at least one rule would change.
	WouldChange int `json:"wouldChange"`
	// RestrictedBefore, RestrictedAfter: workloads whose pods pass Pod
	// Security "restricted" as they are, and once the rules have run.
	RestrictedBefore int `json:"restrictedBefore"`
	RestrictedAfter  int `json:"restrictedAfter"`
	// WouldNotStart, StartUnknown: workloads by start verdict.
	WouldNotStart int `json:"wouldNotStart"`
	StartUnknown  int `json:"startUnknown"`
	// OptedOut: workloads whose pods carry secure-defaults.dev/inject: disabled.
	OptedOut int `json:"optedOut"`
}

// Namespace summarises one namespace.
type Namespace struct {
	Name string `json:"name"`
	// Inject is the value of the namespace's secure-defaults.dev/inject label:
	// "enabled" (opted in), "audit", or "" (not opted in).
	Inject string `json:"inject"`
	// OptedIn is true when Inject is "enabled".
	OptedIn bool `json:"optedIn"`
	// PodSecurity holds the namespace's pod-security.kubernetes.io/* labels,
	// keyed without the prefix (enforce, enforce-version, warn, audit, ...).
	PodSecurity map[string]string `json:"podSecurity"`
	// LabelsKnown is false when the namespace object could not be read
	// (forbidden): Inject, OptedIn and PodSecurity are then unknown.
	LabelsKnown bool `json:"labelsKnown"`
	Counts
}

// Workload is what opting in would do to one workload's pods.
type Workload struct {
	Namespace  string `json:"namespace"`
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Name       string `json:"name"`
	// Rules are the IDs of the rules that would change the pods, sorted.
	Rules []string `json:"rules"`
	// OptedOut: the pod template carries secure-defaults.dev/inject: disabled,
	// so no rule runs.
	OptedOut bool `json:"optedOut"`
	// SkippedRules: enabled rules the pods' secure-defaults.dev/skip-rules
	// annotation keeps from running, sorted.
	SkippedRules []string `json:"skippedRules"`
	// SkippedContainers: containers every rule leaves alone, and why.
	SkippedContainers []SkippedContainer `json:"skippedContainers"`
	// Restricted is Pod Security "restricted" before and after the rules.
	Restricted Restricted `json:"restricted"`
	// NeedsRoot lists the containers that keep root's powers, and why.
	NeedsRoot []RootContainer `json:"needsRoot"`
	// Start says whether the pods would still start after the rules.
	Start Start `json:"start"`
	// Warnings are the rules' own messages: defaults left out on purpose.
	Warnings []string `json:"warnings"`
}

// SkippedContainer is a container every rule leaves alone.
type SkippedContainer struct {
	Container string `json:"container"`
	// Reason is why: the pod's skip-containers annotation, or the
	// configuration's excludeContainers or excludeImages.
	Reason string `json:"reason"`
}

// Restricted is the Pod Security "restricted" verdict on a workload's pods.
type Restricted struct {
	// Before: the pods as they are today pass.
	Before bool `json:"before"`
	// After: the pods the rules would produce pass.
	After bool `json:"after"`
	// StillFails lists what fails after the rules, one entry per check.
	StillFails []Violation `json:"stillFails"`
}

// Violation is one failed Pod Security check.
type Violation struct {
	// Reason is Pod Security's short reason, e.g. "privileged".
	Reason string `json:"reason"`
	// Detail names containers or values, e.g. `container "app" must not set
	// securityContext.privileged=true`.
	Detail string `json:"detail"`
}

// RootContainer is a container that keeps root's powers.
type RootContainer struct {
	// Container is the container's name; Type its list: initContainers,
	// containers or ephemeralContainers.
	Container string `json:"container"`
	Type      string `json:"type"`
	// Reason says why: "runAsUser: 0", "runAsNonRoot: false", "privileged:
	// true", ... and, with image lookup, what the image runs as.
	Reason string `json:"reason"`
}

// Start is the start verdict of a workload.
type Start struct {
	// Verdict is Starts, WouldNotStart or StartUnknown.
	Verdict string `json:"verdict"`
	// Reasons explain WouldNotStart and StartUnknown, one per container.
	Reasons []string `json:"reasons"`
}

// Problem is something that could not be audited.
type Problem struct {
	// Namespace is "" for a cluster-wide request.
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	// Name is the object's name, "" for a failed list.
	Name string `json:"name"`
	// Reason is one of forbidden, not-found, undecodable, error.
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func rootContainers(in []defaults.RootContainer) []RootContainer {
	out := make([]RootContainer, 0, len(in))
	for _, r := range in {
		out = append(out, RootContainer{Container: r.Name, Type: r.Kind, Reason: r.Reason})
	}
	return out
}

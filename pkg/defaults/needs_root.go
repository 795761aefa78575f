package defaults

import corev1 "k8s.io/api/core/v1"

// RootContainer names a container that needs root, and why.
type RootContainer struct {
	// Kind is the list the container is in: "initContainers", "containers"
	// or "ephemeralContainers", as in the Pod's JSON.
	Kind string
	// Name is the container's name.
	Name string
	// Reason names what makes it root, e.g. "runAsUser: 0",
	// "runAsNonRoot: false", "privileged: true", or the reason given in
	// facts.
	Reason string
}

// NeedsRoot lists, in pod order, the containers of pod that the rules treat
// as needing root (see root.go) when they run with opts, given what the
// caller knows beyond the manifest (opts.Facts). It reads pod and changes
// nothing; it tells reports (such as an audit of a cluster) what Apply
// decides on its own.
func NeedsRoot(pod *corev1.Pod, opts Options) []RootContainer {
	facts := withRunAsUser(pod, opts)
	var out []RootContainer
	for _, c := range allContainers(pod) {
		if reason := needsRoot(pod.Spec.SecurityContext, c.get(), facts.NeedsRoot[c.name]); reason != "" {
			out = append(out, RootContainer{Kind: string(c.kind), Name: c.name, Reason: reason})
		}
	}
	return out
}

// IsWindows reports whether the rules treat pod as a Windows pod:
// spec.os.name, or a node selector or required node affinity that pins it
// to Windows nodes. Reports use it to read a pod as the rules do.
func IsWindows(pod *corev1.Pod) bool { return isWindows(pod) }

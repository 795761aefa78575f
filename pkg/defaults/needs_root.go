package defaults

import corev1 "k8s.io/api/core/v1"

// RootContainer names a container that runs as root on purpose, and why.
type RootContainer struct {
	// Kind is the list the container is in: "initContainers", "containers"
	// or "ephemeralContainers", as in the Pod's JSON.
	Kind string
	// Name is the container's name.
	Name string
	// Reason names the field that makes it root, e.g. "runAsUser: 0",
	// "runAsNonRoot: false", "privileged: true".
	Reason string
}

// NeedsRoot lists the containers of pod, in pod order, that the rules treat
// as needing root: their effective runAsUser is 0 (or Windows
// ContainerAdministrator), their effective runAsNonRoot is explicitly false,
// or they are privileged or add CAP_SYS_ADMIN or ALL without a non-zero UID.
// Such containers keep root's powers, and runAsNonRoot is never set on them.
// It reads pod and changes nothing; it tells reports (such as an audit of a
// cluster) what Apply decides on its own.
func NeedsRoot(pod *corev1.Pod) []RootContainer {
	podSC := pod.Spec.SecurityContext
	var out []RootContainer
	for _, c := range allContainers(pod) {
		reason := rootReason(podSC, c)
		if reason == "" && isFalse(effectiveRunAsNonRoot(podSC, c)) {
			reason = "runAsNonRoot: false"
		}
		if reason != "" {
			out = append(out, RootContainer{Kind: string(c.kind), Name: c.name, Reason: reason})
		}
	}
	return out
}

// effectiveRunAsNonRoot is c's runAsNonRoot, or the pod's when c sets none.
func effectiveRunAsNonRoot(podSC *corev1.PodSecurityContext, c container) *bool {
	if sc := c.get(); sc != nil && sc.RunAsNonRoot != nil {
		return sc.RunAsNonRoot
	}
	if podSC != nil {
		return podSC.RunAsNonRoot
	}
	return nil
}

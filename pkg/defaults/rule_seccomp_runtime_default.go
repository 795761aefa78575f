package defaults

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// seccompPodAnnotation is the deprecated pod annotation that predates the
// seccompProfile field. The API server rejects a pod whose annotation and
// field disagree.
const seccompPodAnnotation = "seccomp.security.alpha.kubernetes.io/pod"

// ruleSeccompRuntimeDefault confines every container with the container
// runtime's default seccomp profile.
//
// Sets: spec.securityContext.seccompProfile = {type: RuntimeDefault}; for the
// ephemeralcontainers subresource, where the pod level cannot change, the same
// on each new ephemeral container that sets no profile of its own.
//
// Stays away when:
//   - the pod is a Windows pod (the API server rejects seccomp there);
//   - the pod sets a profile (any type);
//   - the pod carries the deprecated seccomp annotation (the user chose a
//     profile that way, and a field that disagrees with it is rejected); a
//     warning says so.
//
// Containers that set their own profile keep it: a container's profile
// overrides the pod's.
var ruleSeccompRuntimeDefault = Rule{
	ID:      "seccomp-runtime-default",
	Summary: "seccompProfile {type: RuntimeDefault} at pod level; containers with their own profile keep it",
	apply:   applySeccompRuntimeDefault,
}

func applySeccompRuntimeDefault(pod *corev1.Pod, s *scope) (bool, []string) {
	if s.windows {
		return false, nil
	}
	if sc := pod.Spec.SecurityContext; sc != nil && sc.SeccompProfile != nil {
		return false, nil
	}
	if v, ok := pod.Annotations[seccompPodAnnotation]; ok {
		return false, []string{fmt.Sprintf(
			"the pod sets the deprecated annotation %s=%q, so seccompProfile was not set; use spec.securityContext.seccompProfile instead",
			seccompPodAnnotation, v)}
	}
	if s.podLevel() {
		if pod.Spec.SecurityContext == nil {
			pod.Spec.SecurityContext = &corev1.PodSecurityContext{}
		}
		pod.Spec.SecurityContext.SeccompProfile = runtimeDefault()
		return true, nil
	}
	changed := false
	for _, c := range s.containers {
		if sc := c.get(); sc != nil && sc.SeccompProfile != nil {
			continue
		}
		c.sc().SeccompProfile = runtimeDefault()
		changed = true
	}
	return changed, nil
}

func runtimeDefault() *corev1.SeccompProfile {
	return &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
}

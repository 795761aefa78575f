package defaults

import corev1 "k8s.io/api/core/v1"

// DefaultFSGroup is the group fs-group sets unless configured otherwise: the
// nonroot group of distroless images.
const DefaultFSGroup int64 = 65532

// ruleFSGroup makes the pod's volumes writable by a non-root user: the kubelet
// gives volumes that support ownership management to this group. Optional:
// off unless configured, with the group in Options.FSGroup.
//
// Sets: spec.securityContext.fsGroup = the configured GID, and
// spec.securityContext.fsGroupChangePolicy = OnRootMismatch where unset, so a
// large volume is not re-chowned at every start.
//
// Stays away when:
//   - the pod sets fsGroup (its change policy stays the user's too);
//   - the pod is a Windows pod (the API server rejects fsGroup there);
//   - the change is to the ephemeralcontainers subresource (the pod level
//     cannot change), or a container of the pod is left alone (the group
//     would reach it).
var ruleFSGroup = Rule{
	ID:       "fs-group",
	Summary:  "fsGroup (configured, default 65532) with fsGroupChangePolicy: OnRootMismatch at pod level",
	Writes:   []string{"/spec/securityContext/fsGroup", "/spec/securityContext/fsGroupChangePolicy"},
	Optional: true,
	apply:    applyFSGroup,
}

func applyFSGroup(pod *corev1.Pod, s *scope) (bool, []string) {
	if s.windows || !s.podLevel() {
		return false, nil
	}
	if sc := pod.Spec.SecurityContext; sc != nil && sc.FSGroup != nil {
		return false, nil
	}
	if pod.Spec.SecurityContext == nil {
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	sc := pod.Spec.SecurityContext
	sc.FSGroup = ptr(s.opts.fsGroup())
	if sc.FSGroupChangePolicy == nil {
		sc.FSGroupChangePolicy = ptr(corev1.FSGroupChangeOnRootMismatch)
	}
	return true, nil
}
